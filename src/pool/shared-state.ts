/**
 * The memory the pool shares with its worker threads: one `SharedArrayBuffer` viewed as an `Int32Array`.
 *
 * Layout (indices into the Int32Array):
 *
 * | index                          | name              | written by          | meaning                                  |
 * | ------------------------------ | ----------------- | ------------------- | ---------------------------------------- |
 * | 0                              | EXECUTING_COUNT   | workers (add/sub)   | workers inside `scanSlice` right now     |
 * | STOP_FLAGS_BASE + 2 × slot     | stop flag of slot | main thread (store) | 1 = the search using that slot stops     |
 * | STOP_FLAGS_BASE + 2 × slot + 1 | in-kernel count   | workers (add/sub)   | workers inside `scanSlice` for that slot |
 *
 * A running search owns one stop slot. The kernel reads `flags[slot]` with `Atomics.load` every
 * STOP_CHECK_INTERVAL candidates, so the slot index handed to the kernel is already offset by STOP_FLAGS_BASE.
 * The per-slot count sits next to its flag so that a worker, which knows only the flag's index, finds it; the
 * main thread sleeps on it after a cancel (stop-handoff.ts).
 *
 * Slot reuse: the main thread frees a slot only after every slice dispatched with it has posted its result
 * back (the worker posts after `scanSlice` returned, so no thread can still read the flag), and it clears the
 * flag before posting the first slice of the next search; `postMessage` orders that store before the worker's
 * first read.
 */

/** Workers currently executing a slice inside the kernel (not merely holding one in their message queue). */
export const EXECUTING_COUNT = 0;
/** First stop flag; the flag of stop slot `n` is at `STOP_FLAGS_BASE + SLOT_STRIDE * n`. */
export const STOP_FLAGS_BASE = 1;
/** Cells per stop slot: its flag, then its in-kernel count. */
const SLOT_STRIDE = 2;

/** Flag values. The flag only ever goes STOP_CLEAR → STOP_RAISED while a search owns the slot. */
export const STOP_CLEAR = 0;
export const STOP_RAISED = 1;

/** Allocates the shared state for `stopSlots` concurrent stop flags. */
export function createSharedState(stopSlots: number): Int32Array {
  const cells = STOP_FLAGS_BASE + SLOT_STRIDE * stopSlots;
  return new Int32Array(new SharedArrayBuffer(cells * Int32Array.BYTES_PER_ELEMENT));
}

/** Index into the shared array of stop slot `slot` (what the kernel receives as its `slot`). */
export function stopFlagIndex(slot: number): number {
  return STOP_FLAGS_BASE + SLOT_STRIDE * slot;
}

/** Index of the in-kernel count of the slot whose flag is at `stopIndex`. */
function inKernelIndex(stopIndex: number): number {
  return stopIndex + 1;
}

/** Main thread: tells every slice of the search owning `slot` to stop at its next check. */
export function raiseStop(state: Int32Array, slot: number): void {
  // Sequentially consistent store: a worker's next Atomics.load of this index sees 1. Raising twice is harmless.
  Atomics.store(state, stopFlagIndex(slot), STOP_RAISED);
}

/** Main thread: readies a free slot for a new search, before any slice of that search is posted. */
export function clearStop(state: Int32Array, slot: number): void {
  // Safe because the slot is free (no slice that could read it is in flight), and the slice message that will
  // carry this slot is posted after this store: postMessage makes the store visible before the worker reads.
  Atomics.store(state, stopFlagIndex(slot), STOP_CLEAR);
}

/** Worker: whether the search whose flag is at `stopIndex` has been told to stop. */
export function stopRaised(state: Int32Array, stopIndex: number): boolean {
  return Atomics.load(state, stopIndex) !== STOP_CLEAR;
}

/**
 * Worker: marks entry into the kernel for the search whose flag is at `stopIndex` (observability:
 * `SearchPool.whenExecuting`; the main thread's wait after a cancel).
 */
export function enterKernel(state: Int32Array, stopIndex: number): void {
  // add returns after the increment is visible to all threads; notify wakes a waitAsync in the main thread.
  Atomics.add(state, inKernelIndex(stopIndex), 1);
  Atomics.add(state, EXECUTING_COUNT, 1);
  Atomics.notify(state, EXECUTING_COUNT);
}

/** Worker: marks exit from the kernel. Must pair with enterKernel, same `stopIndex` (use try/finally). */
export function leaveKernel(state: Int32Array, stopIndex: number): void {
  // The decrements are ordered before the result's postMessage, so a main thread that receives the result and
  // then reads a count never counts this slice as executing. The total goes first: a main thread woken by the
  // slot's count reaching 0 must not still count this slice in the total.
  Atomics.sub(state, EXECUTING_COUNT, 1);
  Atomics.sub(state, inKernelIndex(stopIndex), 1);
  Atomics.notify(state, inKernelIndex(stopIndex));
  Atomics.notify(state, EXECUTING_COUNT);
}

/**
 * Main thread, blocking: sleeps until no worker is inside the kernel for stop slot `slot`, for at most `maxMs`.
 * Returns whether they all left in time. Woken by the workers' notify as they leave; never spins.
 */
export function sleepUntilSlotLeft(state: Int32Array, slot: number, maxMs: number): boolean {
  const index = inKernelIndex(stopFlagIndex(slot));
  const until = performance.now() + maxMs;
  for (;;) {
    // Wait on the value seen: a leave in between makes wait return "not-equal" at once, so none is missed.
    const seen = Atomics.load(state, index);
    if (seen === 0) return true;
    const left = until - performance.now();
    if (left <= 0) return false;
    Atomics.wait(state, index, seen, left);
  }
}

/**
 * Worker records: a second shared array, two cells per worker, for the event loop to find which threads are still
 * scanning a stopped search (stop-handoff.ts). Cell 2w holds worker w's Linux thread id (0 unknown), cell 2w + 1
 * the stop index of the search it is scanning inside the kernel (0 none; stop indices start at STOP_FLAGS_BASE).
 */
const RECORD_STRIDE = 2;
const NOT_INSIDE = 0;

/** Allocates the records of `workers` workers. */
export function createWorkerRecords(workers: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(RECORD_STRIDE * workers * Int32Array.BYTES_PER_ELEMENT));
}

/** Worker w, once at its start: its thread id. */
export function recordThreadId(records: Int32Array, worker: number, tid: number): void {
  Atomics.store(records, RECORD_STRIDE * worker, tid);
}

/** Worker w, just before enterKernel: it scans the search whose flag is at `stopIndex`. */
export function recordInside(records: Int32Array, worker: number, stopIndex: number): void {
  Atomics.store(records, RECORD_STRIDE * worker + 1, stopIndex);
}

/**
 * Worker w, just before leaveKernel (or the pool, for a worker that died): it scans nothing. In that order, a
 * reader that finds a slot's count above 0 may miss a worker on its way out, but never names one already gone.
 */
export function recordOutside(records: Int32Array, worker: number): void {
  Atomics.store(records, RECORD_STRIDE * worker + 1, NOT_INSIDE);
}

/** Main thread: the stop index worker w recorded as scanning inside the kernel, or 0 if none. */
export function recordedInside(records: Int32Array, worker: number): number {
  return Atomics.load(records, RECORD_STRIDE * worker + 1);
}

/** Main thread: the thread ids of the workers scanning the search whose flag is at `stopIndex`, into `out`. */
export function threadsInside(records: Int32Array, stopIndex: number, out: number[]): number[] {
  out.length = 0;
  for (let cell = 0; cell < records.length; cell += RECORD_STRIDE) {
    if (Atomics.load(records, cell + 1) !== stopIndex) continue;
    const tid = Atomics.load(records, cell);
    if (tid > 0) out.push(tid);
  }
  return out;
}

/** Main thread: how many workers are inside the kernel right now. */
export function executingCount(state: Int32Array): number {
  // A plain snapshot; callers that need to wait use waitUntilExecuting.
  return Atomics.load(state, EXECUTING_COUNT);
}

/**
 * Main thread: resolves once some worker is inside the kernel. Never blocks the event loop (Atomics.waitAsync);
 * rejects with `signal.reason` if the signal aborts first.
 */
export function waitUntilExecuting(signal: AbortSignal, state: Int32Array): Promise<void> {
  return waitForExecutingCount(signal, state, (count) => count > 0);
}

/**
 * Main thread: resolves once no worker is inside the kernel (at once if none is now). Woken by the workers'
 * notify on leaving, so it measures how fast a stop really lands without spinning a core. Rejects with
 * `signal.reason` if the signal aborts first.
 */
export function waitUntilNoneExecuting(signal: AbortSignal, state: Int32Array): Promise<void> {
  return waitForExecutingCount(signal, state, (count) => count === 0);
}

async function waitForExecutingCount(
  signal: AbortSignal,
  state: Int32Array,
  satisfied: (count: number) => boolean,
): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    // Load then wait on the value we saw: if a worker changes it in between, waitAsync returns "not-equal" at
    // once, so a change can never be missed.
    const seen = Atomics.load(state, EXECUTING_COUNT);
    if (satisfied(seen)) return;
    const waiting = Atomics.waitAsync(state, EXECUTING_COUNT, seen);
    if (!waiting.async) continue;
    await abortable(signal, waiting.value);
  }
}

function abortable<T>(signal: AbortSignal, promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
