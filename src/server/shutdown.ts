/** SIGTERM/SIGINT → graceful shutdown → exit 0; a second signal exits at once. */
import type { CancelkitServer } from "./create-server.ts";
import type { Logger } from "./log.ts";

/**
 * Call before the server is started, with the promise of it: a signal while it starts (before its `listening`
 * line) then waits for the start and shuts it down, instead of killing the process by the signal's default action.
 */
export function shutdownOnSignals(server: Promise<CancelkitServer>, log: Logger): void {
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received++;
    if (received > 1) {
      log.warn("shutdown", { phase: "forced", signal });
      process.exit(1);
    }
    log.info("shutdown", { phase: "signal", signal });
    server
      .then((started) => started.shutdown())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error("shutdown", { phase: "failed", error: String(error) });
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
