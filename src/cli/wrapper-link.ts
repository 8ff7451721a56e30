/**
 * The child's side of the IPC channel that bin/cancelkit.js opens to the process it runs on the pinned Node
 * (`serve` always; every command when the system Node is older). The wrapper passes SIGINT/SIGTERM on, but a
 * signal sent to the whole group (a terminal's Ctrl-C) reaches the child too, and a second signal makes the
 * server exit 1 at once and the CLI give up its cleanup; so the child reports each signal it receives itself, and
 * the wrapper forwards only the others. And a wrapper killed by SIGKILL cannot pass anything on: the channel
 * closes, and the child takes that as a SIGTERM rather than keep running as an orphan (a server keeping its port,
 * a client keeping an unbounded search going).
 */
import type { Logger } from "../server/log.ts";

/** What the child sends the wrapper for each signal it received itself. */
export interface SignalReport {
  received: NodeJS.Signals;
}

/**
 * Call before the signal handlers are set up, so each report is sent before a second signal's `process.exit`.
 * Does nothing when the process has no IPC channel (started directly, not by the wrapper). `log`: the server's,
 * which records why it is stopping (a client command has none).
 */
export function linkToWrapper(log?: Logger): void {
  if (process.send === undefined) return;
  // The channel only listens: a client command done must exit, and the server ends by process.exit anyway.
  process.channel?.unref();
  const report = (signal: NodeJS.Signals) => {
    const message: SignalReport = { received: signal };
    // After the wrapper is gone the channel is closed, and a send would emit an unhandled "error".
    if (process.connected) process.send?.(message, undefined, undefined, () => {});
  };
  process.on("SIGINT", report);
  process.on("SIGTERM", report);
  const onWrapperGone = () => {
    // Like any signal: the first drains (or cancels the call) within its bounds, a second (one already came) ends
    // the process at once.
    log?.warn("shutdown", { phase: "wrapper-gone" });
    process.kill(process.pid, "SIGTERM");
  };
  // The wrapper may have died while the child was starting, before anyone listened for "disconnect".
  if (process.connected) process.once("disconnect", onWrapperGone);
  else onWrapperGone();
}
