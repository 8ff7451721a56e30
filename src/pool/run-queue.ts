/**
 * Whether some thread on this machine is waiting for a CPU right now, read from Linux's count of runnable
 * threads: the fourth field of /proc/loadavg ("0.52 0.58 0.59 3/488 12345": 3 runnable of 488) counts every
 * thread running or waiting to run, on all CPUs. More of them than CPUs means one waits. A read is one pread
 * of a small file (about 2 µs), so a worker can ask every few dozen microseconds.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { cpus } from "node:os";

export const LOADAVG_PATH = "/proc/loadavg";

/**
 * The runnable-thread count in a /proc/loadavg text (its first `length` bytes), or -1 when the text does not
 * have that shape. Reads bytes rather than a string: a worker calls this between runs of its scan, where an
 * allocation could start a GC pause that delays its stop flag.
 */
export function runnableCount(text: Uint8Array, length: number): number {
  const SPACE = 0x20;
  const SLASH = 0x2f;
  const ZERO = 0x30;
  let spaces = 0;
  let count = -1;
  for (let i = 0; i < length; i++) {
    const byte = text[i]!;
    if (spaces < 3) {
      if (byte === SPACE) spaces++;
      continue;
    }
    if (byte === SLASH) return count;
    const digit = byte - ZERO;
    if (digit < 0 || digit > 9) return -1;
    count = (count < 0 ? 0 : count * 10) + digit;
  }
  return -1;
}

/**
 * An open /proc/loadavg; pread at offset 0 makes one descriptor safe to share between threads. In a container
 * whose /proc/loadavg counts only its own threads (lxcfs) while the CPU count is the host's, the workers would
 * rarely see a wait: they then behave as if never pausing, never worse.
 */
export interface RunQueueSource {
  readonly fd: number;
  /** CPUs whose threads the count covers: every online CPU of the machine. */
  readonly cpus: number;
  /** The latest answer and a count of reads, shared by the threads that ask (sharedRunQueueProbe). */
  readonly shared: Int32Array;
  close(): void;
}

/** Cells of `RunQueueSource.shared`. */
const ANSWER = 0;
const READS = 1;

/** The shared cells of a new source (transferable to worker threads with the descriptor). */
function sharedCells(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
}

/** Opens the source, or returns undefined where there is none to read (not Linux, /proc not mounted). */
export function openRunQueueSource(path = LOADAVG_PATH): RunQueueSource | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  const source = { fd, cpus: cpus().length, shared: sharedCells(), close: () => closeSync(fd) };
  if (source.cpus < 1 || runQueueProbe(source) === undefined) {
    source.close();
    return undefined;
  }
  return source;
}

/**
 * `() => true` while more threads are runnable than there are CPUs, from an open source (in any thread; the
 * descriptor is process-wide). Undefined if the file does not read as /proc/loadavg.
 */
export function runQueueProbe(source: Pick<RunQueueSource, "fd" | "cpus">): (() => boolean) | undefined {
  const text = new Uint8Array(128);
  const read = (): number => runnableCount(text, readSync(source.fd, text, 0, text.length, 0));
  try {
    if (read() < 0) return undefined;
  } catch {
    return undefined;
  }
  return () => read() > source.cpus;
}

/**
 * runQueueProbe for threads that ask at a steady interval each, reading the file about once per interval between
 * them rather than once each: a thread whose question comes after another thread has read since its own last
 * question takes that answer, at most one of its intervals old. Each read costs a worker ~2 µs of scanning; asked
 * every 0.05 ms by every worker, the reads were 6 % of a 2-worker search, and they grow with the worker count.
 */
export function sharedRunQueueProbe(
  source: Pick<RunQueueSource, "fd" | "cpus" | "shared">,
): (() => boolean) | undefined {
  const probe = runQueueProbe(source);
  if (probe === undefined) return undefined;
  const cells = source.shared;
  let readsSeen = Atomics.load(cells, READS);
  return () => {
    const reads = Atomics.load(cells, READS);
    if (reads !== readsSeen) {
      readsSeen = reads;
      return Atomics.load(cells, ANSWER) !== 0;
    }
    // Nobody has read since this thread last asked. Two threads may both read here; that costs a read, no more.
    const waiting = probe();
    // Answer first, then the count: a thread that sees the new count reads this answer, not the one before.
    Atomics.store(cells, ANSWER, waiting ? 1 : 0);
    readsSeen = Atomics.add(cells, READS, 1) + 1;
    return waiting;
  };
}
