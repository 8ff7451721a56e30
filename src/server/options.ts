/** Server options: defaults that protect the server, validation that names the option, and the --help text. */
import { availableParallelism } from "node:os";
import { DAY_MS, type DurationRange, formatDuration, parseDuration } from "../duration.ts";
import { DEFAULT_STOP_WAIT_MS, DEFAULT_YIELD_EVERY_MS } from "../pool/pool.ts";

export interface ServerOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host: string;
  /** TCP port; 0 picks a free one. Default 50051. */
  port: number;
  /** Search worker threads. Default: the CPU count. */
  workers: number;
  /**
   * Every this many ms of scanning a worker yields its core to any thread waiting for it (the pool's
   * `yieldEveryMs`); 0 = never. Default DEFAULT_YIELD_EVERY_MS (0.05).
   */
  workerYieldMs: number;
  /**
   * After a cancel stops a search, the event loop sleeps until its workers are out of the kernel, at most this
   * many ms (the pool's `stopWaitMs`); 0 = never. Default DEFAULT_STOP_WAIT_MS (1).
   */
  stopWaitMs: number;
  /** Candidates one search call may examine; 0 = unlimited. Default 1,000,000 (the reference's budget). */
  maximumHashes: number;
  /** Searches that may share the workers at once; more wait in the queue. Default 4 × workers. */
  maxRunning: number;
  /** Searches that may wait for a running place; beyond it, RESOURCE_EXHAUSTED at once. Default 64. */
  maxQueued: number;
  /** Running + queued searches per peer (connection address); 0 = unlimited. Default 8. */
  maxPerClient: number;
  /** How long running calls may go on after SIGTERM/SIGINT before they end with UNAVAILABLE. Default 5 s. */
  graceMs: number;
  /** Folder of the embedded SQLite database and the local token. Default ./data. */
  dataDir: string;
}

export function defaultServerOptions(): ServerOptions {
  const workers = availableParallelism();
  return {
    host: "127.0.0.1",
    port: 50051,
    workers,
    workerYieldMs: DEFAULT_YIELD_EVERY_MS,
    stopWaitMs: DEFAULT_STOP_WAIT_MS,
    maximumHashes: 1_000_000,
    maxRunning: 4 * workers,
    maxQueued: 64,
    maxPerClient: 8,
    graceMs: 5000,
    dataDir: "./data",
  };
}

/** Raw option strings as they come from the command line (all optional). */
export type ServerOptionFlags = Partial<Record<keyof typeof FLAG_NAMES, string>>;

/** Flag name for each option, so that every error names the flag the user typed. */
export const FLAG_NAMES = {
  host: "--host",
  port: "--port",
  workers: "--workers",
  workerYieldMs: "--worker-yield-ms",
  stopWaitMs: "--stop-wait-ms",
  maximumHashes: "--maximum-hashes",
  maxRunning: "--max-running",
  maxQueued: "--max-queued",
  maxPerClient: "--max-per-client",
  grace: "--grace",
  dataDir: "--data-dir",
} as const;

/**
 * --grace: from 0 (end running calls at once) to a day. Node's timers wait at most 2^31−1 ms (24.8 days) and turn
 * a longer wait into 1 ms; a day is more than any call should be given to finish.
 */
export const GRACE_RANGE: DurationRange = { minMs: 0, maxMs: DAY_MS };

function integer(text: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  // Digits, optionally grouped with "_" as in 1_000_000; "_" alone or "" would be Number("") = 0.
  const value = Number(text.replaceAll("_", ""));
  if (!/^\s*\d+(_\d+)*\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${flag}: "${text}" must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function decimal(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(text) || value < min || value > max) {
    throw new RangeError(`${flag}: "${text}" must be a number from ${min} to ${max}`);
  }
  return value;
}

/** Applies flags over the defaults; throws a RangeError naming the flag for a bad value. */
export function resolveServerOptions(flags: ServerOptionFlags): ServerOptions {
  const options = defaultServerOptions();
  if (flags.host !== undefined) {
    // Node listens on every interface for an empty host: an empty value from a templated config would expose the
    // server to the network while the log said "host":"".
    if (flags.host.trim() === "") {
      throw new RangeError(
        `${FLAG_NAMES.host}: must not be empty (0.0.0.0 or :: listens on every interface)`,
      );
    }
    options.host = flags.host;
  }
  if (flags.port !== undefined) options.port = integer(flags.port, FLAG_NAMES.port, 0, 65535);
  if (flags.workers !== undefined) {
    options.workers = integer(flags.workers, FLAG_NAMES.workers, 1, 256);
    if (flags.maxRunning === undefined) options.maxRunning = 4 * options.workers;
  }
  if (flags.workerYieldMs !== undefined) {
    options.workerYieldMs = decimal(flags.workerYieldMs, FLAG_NAMES.workerYieldMs, 0, 1000);
  }
  if (flags.stopWaitMs !== undefined) {
    options.stopWaitMs = decimal(flags.stopWaitMs, FLAG_NAMES.stopWaitMs, 0, 100);
  }
  if (flags.maximumHashes !== undefined) {
    options.maximumHashes = integer(flags.maximumHashes, FLAG_NAMES.maximumHashes, 0);
  }
  if (flags.maxRunning !== undefined)
    options.maxRunning = integer(flags.maxRunning, FLAG_NAMES.maxRunning, 1);
  if (flags.maxQueued !== undefined) options.maxQueued = integer(flags.maxQueued, FLAG_NAMES.maxQueued, 0);
  if (flags.maxPerClient !== undefined) {
    options.maxPerClient = integer(flags.maxPerClient, FLAG_NAMES.maxPerClient, 0);
  }
  if (flags.grace !== undefined) options.graceMs = parseDuration(flags.grace, FLAG_NAMES.grace, GRACE_RANGE);
  if (flags.dataDir !== undefined) {
    // An empty one failed as "cannot use cancelkit.db (--data-dir): ENOENT … mkdir ''", exit 1.
    if (flags.dataDir.trim() === "") throw new RangeError(`${FLAG_NAMES.dataDir}: must not be empty`);
    options.dataDir = flags.dataDir;
  }
  return options;
}

export function serverHelp(): string {
  const d = defaultServerOptions();
  return `Usage: cancelkit serve [options]

Serves hash_name.HashFinder and todo.v2.TodoService on one port: gRPC over h2c, and Connect/gRPC-Web over HTTP/1.1.

Options:
  --host HOST              interface to listen on (default ${d.host})
  --port PORT              TCP port, 0 for any free one (default ${d.port})
  --workers N              search worker threads (default ${d.workers}, the CPU count)
  --worker-yield-ms MS     every MS of scanning a worker yields its core to any thread waiting for it, so
                           that a cancel is heard at once when every core searches;
                           0 = never (default ${d.workerYieldMs})
  --stop-wait-ms MS        after a cancel stops a search, the event loop sleeps up to MS until its workers
                           have left the kernel, so that the stop lands at once; 0 = never (default ${d.stopWaitMs})
  --maximum-hashes N       candidates one search call may examine, 0 = unlimited (default ${d.maximumHashes})
  --max-running N          searches sharing the workers at once (default 4 × workers = ${d.maxRunning})
  --max-queued N           searches waiting for a running place before RESOURCE_EXHAUSTED (default ${d.maxQueued})
  --max-per-client N       running + queued searches per peer, 0 = unlimited (default ${d.maxPerClient})
  --grace DURATION         time running calls get after SIGTERM/SIGINT before UNAVAILABLE, up to ${formatDuration(GRACE_RANGE.maxMs)} (default ${formatDuration(d.graceMs)})
  --data-dir DIR           SQLite database and local token (default ${d.dataDir})
  -h, --help               this text
`;
}
