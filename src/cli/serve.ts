/** `cancelkit serve`: parse options, start the server, shut down gracefully on SIGTERM/SIGINT. */
import { startServer } from "../server/create-server.ts";
import { createLogger } from "../server/log.ts";
import { resolveServerOptions, type ServerOptions, serverHelp } from "../server/options.ts";
import { shutdownOnSignals } from "../server/shutdown.ts";
import { parseCommandLine } from "./command-line.ts";
import { unusableDataDir } from "./data-dir.ts";
import { EXIT } from "./exit-codes.ts";
import { parseFlags } from "./usage-error.ts";
import { linkToWrapper } from "./wrapper-link.ts";

export async function serve(args: string[]): Promise<number> {
  const { values } = parseCommandLine({
    args,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      workers: { type: "string" },
      "worker-yield-ms": { type: "string" },
      "stop-wait-ms": { type: "string" },
      "maximum-hashes": { type: "string" },
      "max-running": { type: "string" },
      "max-queued": { type: "string" },
      "max-per-client": { type: "string" },
      grace: { type: "string" },
      "data-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(serverHelp());
    return 0;
  }
  const options = parseFlags(() =>
    resolveServerOptions({
      host: values.host,
      port: values.port,
      workers: values.workers,
      workerYieldMs: values["worker-yield-ms"],
      stopWaitMs: values["stop-wait-ms"],
      maximumHashes: values["maximum-hashes"],
      maxRunning: values["max-running"],
      maxQueued: values["max-queued"],
      maxPerClient: values["max-per-client"],
      grace: values.grace,
      dataDir: values["data-dir"],
    }),
  );
  const log = createLogger();
  linkToWrapper(log);
  const server = startServer(options, log);
  shutdownOnSignals(server, log);
  try {
    await server;
  } catch (error) {
    process.stderr.write(`cancelkit serve: ${startFailure(error, options)}\n`);
    return EXIT.failed;
  }
  // Keep running until a signal ends the process.
  return new Promise<number>(() => {});
}

/**
 * Why the server could not start, naming the flags to change: the port could not be bound, or the data dir or
 * its database could not be used (not writable, not a database, another program's database).
 */
function startFailure(error: unknown, options: ServerOptions): string {
  const message = error instanceof Error ? error.message : String(error);
  // A --host that does not resolve fails in listen()'s DNS lookup, whose error says getaddrinfo: nothing else
  // that starts the server looks a name up.
  const syscall = (error as NodeJS.ErrnoException | undefined)?.syscall;
  if (syscall === "listen" || syscall === "getaddrinfo") {
    return `cannot listen on ${options.host}:${options.port} (--host, --port): ${message}`;
  }
  return unusableDataDir(options.dataDir, error);
}
