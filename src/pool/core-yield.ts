/**
 * Hands the calling thread's core to a thread that waits for it: libc's `sched_yield`, called through koffi
 * (libc.ts), because Node has no API for it. On Linux's fair scheduler a yield with nobody
 * waiting on the thread's CPU returns at once (0.7 µs through koffi on this project's VM); with a thread waiting
 * there, the yielding one goes behind it. So a worker can yield every few dozen microseconds and lose its core
 * only when another thread wants that core, while that thread runs, where a timed sleep left the core idle for
 * the timer slack (~80 µs) whether the waiter was queued on it or not.
 *
 * Linux with glibc only (`libc.so.6`); elsewhere, or where koffi cannot be loaded, `loadCoreYield` returns
 * undefined and the workers pace with short sleeps instead (pacing.ts).
 */
import { loadLibc } from "./libc.ts";

/** `sched_yield` of the calling thread, or undefined where it cannot be called. Load once per thread. */
export function loadCoreYield(): (() => void) | undefined {
  const libc = loadLibc()?.libc;
  if (libc === undefined) return undefined;
  try {
    const schedYield = libc.func("int sched_yield(void)") as () => number;
    if (schedYield() !== 0) return undefined;
    return () => {
      schedYield();
    };
  } catch {
    return undefined;
  }
}

/**
 * A worker's load of koffi, guarded against the pool terminating it meanwhile: a worker terminated while Node
 * initialises koffi's addon dies with a FATAL napi_throw that takes the whole process down (seen in 1 of ~20 runs
 * of the stop-handoff tests, whose pools close within milliseconds of starting). One Int32 per worker, shared
 * with the pool: the worker claims it before loading, the pool claims it before terminating, and whichever is
 * second waits for, or gives way to, the other.
 */
const NOT_STARTED = 0;
const LOADING = 1;
const SETTLED = 2;
const CLOSING = 3;

/** One load cell per worker index, all NOT_STARTED. */
export function createLoadCells(workers: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(workers * Int32Array.BYTES_PER_ELEMENT));
}

/** Pool: before (re)spawning worker `index`. */
export function resetLoadCell(cells: Int32Array, index: number): void {
  Atomics.store(cells, index, NOT_STARTED);
}

/** Worker `index`: `load()` unless the pool is already closing it (then undefined). */
export function loadUnlessClosing<T>(
  cells: Int32Array,
  index: number,
  load: () => T | undefined,
): T | undefined {
  if (Atomics.compareExchange(cells, index, NOT_STARTED, LOADING) !== NOT_STARTED) return undefined;
  try {
    return load();
  } finally {
    Atomics.store(cells, index, SETTLED);
    Atomics.notify(cells, index);
  }
}

/**
 * Pool: resolves once worker `index` may be terminated: at once if it never began loading (it then never will),
 * else when its load has ended, or after `timeoutMs` at most.
 */
export async function untilLoadSettled(cells: Int32Array, index: number, timeoutMs: number): Promise<void> {
  if (Atomics.compareExchange(cells, index, NOT_STARTED, CLOSING) === NOT_STARTED) return;
  const waiting = Atomics.waitAsync(cells, index, LOADING, timeoutMs);
  if (waiting.async) await waiting.value;
}
