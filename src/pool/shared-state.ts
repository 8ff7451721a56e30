/**
 * The memory the pool shares with its worker threads: one `SharedArrayBuffer` viewed as an `Int32Array`.
 *
 * Layout (indices into the Int32Array):
 *
 * | index                     | name              | written by            | meaning                               |
 * | ------------------------- | ----------------- | --------------------- | ------------------------------------- |
 * | 0                         | EXECUTING_COUNT   | workers (add/sub)     | workers inside `scanSlice` right now  |
 * | STOP_FLAGS_BASE + slot    | stop flag of slot | main thread (store)   | 1 = the search using that slot stops  |
 *
 * A running search owns one stop slot. The kernel reads `flags[slot]` with `Atomics.load` every
 * STOP_CHECK_INTERVAL candidates, so the slot index handed to the kernel is already offset by STOP_FLAGS_BASE.
 *
 * Slot reuse: the main thread frees a slot only after every slice dispatched with it has posted its result
 * back (the worker posts after `scanSlice` returned, so no thread can still read the flag), and it clears the
 * flag before posting the first slice of the next search; `postMessage` orders that store before the worker's
 * first read.
 */

/** Workers currently executing a slice inside the kernel (not merely holding one in their message queue). */
export const EXECUTING_COUNT = 0;
/** First stop flag; the flag of stop slot `n` is at `STOP_FLAGS_BASE + n`. */
export const STOP_FLAGS_BASE = 1;

/** Flag values. The flag only ever goes STOP_CLEAR → STOP_RAISED while a search owns the slot. */
export const STOP_CLEAR = 0;
export const STOP_RAISED = 1;

/** Allocates the shared state for `stopSlots` concurrent stop flags. */
export function createSharedState(stopSlots: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer((STOP_FLAGS_BASE + stopSlots) * Int32Array.BYTES_PER_ELEMENT));
}

/** Index into the shared array of stop slot `slot` (what the kernel receives as its `slot`). */
export function stopFlagIndex(slot: number): number {
  return STOP_FLAGS_BASE + slot;
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

/** Worker: marks entry into the kernel (observability: `SearchPool.whenBusy`). */
export function enterKernel(state: Int32Array): void {
  // add returns after the increment is visible to all threads; notify wakes a waitAsync in the main thread.
  Atomics.add(state, EXECUTING_COUNT, 1);
  Atomics.notify(state, EXECUTING_COUNT);
}

/** Worker: marks exit from the kernel. Must pair with enterKernel (use try/finally). */
export function leaveKernel(state: Int32Array): void {
  // The decrement is ordered before the result's postMessage, so a main thread that receives the result and then
  // reads the count never counts this slice as executing.
  Atomics.sub(state, EXECUTING_COUNT, 1);
  Atomics.notify(state, EXECUTING_COUNT);
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
