/** SIGTERM/SIGINT → graceful shutdown → exit 0; a second signal exits at once. */
import type { CancelkitServer } from "./create-server.ts";
import type { Logger } from "./log.ts";

export function shutdownOnSignals(server: CancelkitServer, log: Logger): void {
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received++;
    if (received > 1) {
      log.warn("shutdown", { phase: "forced", signal });
      process.exit(1);
    }
    log.info("shutdown", { phase: "signal", signal });
    server.shutdown().then(
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
