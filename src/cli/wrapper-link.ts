/**
 * The server's side of the IPC channel that bin/cancelkit.js opens to `serve`. The wrapper passes SIGINT/SIGTERM
 * on, but a signal sent to the whole group (a terminal's Ctrl-C) reaches the server too, and a second signal
 * makes it exit 1 at once; so the server reports each signal it receives itself, and the wrapper forwards only
 * the others. And a wrapper killed by SIGKILL cannot pass anything on: the channel closes, and the server takes
 * that as a signal rather than keep running, and keep the port, as an orphan.
 */
import type { Logger } from "../server/log.ts";

/** What the server sends the wrapper for each signal it received itself. */
export interface SignalReport {
  received: NodeJS.Signals;
}

/**
 * Call before `shutdownOnSignals`, so each report is sent before a second signal's `process.exit`. Does nothing
 * when the process has no IPC channel (started directly, not by the wrapper).
 */
export function linkToWrapper(log: Logger): void {
  if (process.send === undefined) return;
  const report = (signal: NodeJS.Signals) => {
    const message: SignalReport = { received: signal };
    // After the wrapper is gone the channel is closed, and a send would emit an unhandled "error".
    if (process.connected) process.send?.(message, undefined, undefined, () => {});
  };
  process.on("SIGINT", report);
  process.on("SIGTERM", report);
  const onWrapperGone = () => {
    // Like any signal: the first drains within the grace period, a second (one already came) exits at once.
    log.warn("shutdown", { phase: "wrapper-gone" });
    process.kill(process.pid, "SIGTERM");
  };
  // The wrapper may have died while the server was starting, before anyone listened for "disconnect".
  if (process.connected) process.once("disconnect", onWrapperGone);
  else onWrapperGone();
}
