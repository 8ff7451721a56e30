/**
 * When a worker's scan gives its core away (the kernel's Pacing). Where libc's `sched_yield` can be called
 * (core-yield.ts: Linux with glibc), every `yieldEveryMs` of scanning the worker yields: the OS runs a thread
 * that waits for that core, if any (the event loop that must hear a cancel, a client on the same machine, V8's
 * GC and compiler threads), and otherwise the worker goes on at once.
 *
 * Without it the worker can only sleep, which leaves its core idle for the sleep's length (the timer slack,
 * ~80 µs) whoever waits, so it sleeps only when it must: every `yieldEveryMs` it asks whether another thread is
 * waiting for a CPU (run-queue.ts), and pauses only if one is. Where the run queue cannot be read either (not
 * Linux), it pauses unconditionally, no more often than every FALLBACK_PAUSE_EVERY_MS, which bounds what the
 * pauses cost.
 */
import type { Pacing } from "../search/kernel.ts";
import { type RunQueueSource, sharedRunQueueProbe } from "./run-queue.ts";

export const FALLBACK_PAUSE_EVERY_MS = 0.5;

/**
 * How long a sleeping pause gives the core away: the shortest sleep there is. The OS rounds it up to its timer
 * slack (50 µs by default on Linux), which is what a pause costs.
 */
const PAUSE_MS = 0.001;
/** A cell nobody notifies: waiting on it is a plain timed sleep of this thread. */
const pauseCell = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));

function sleepBriefly(): void {
  Atomics.wait(pauseCell, 0, 0, PAUSE_MS);
}

/** What the workers of a pool do, for the server's listening log: which of the four cases below applies. */
export type PausingMode = "yield" | "when-a-thread-waits" | "unconditionally" | "never";

export function pausingMode(
  yieldEveryMs: number,
  yields: boolean,
  runQueue: object | undefined,
): PausingMode {
  if (yieldEveryMs <= 0) return "never";
  if (yields) return "yield";
  return runQueue === undefined ? "unconditionally" : "when-a-thread-waits";
}

/**
 * The pacing for `yieldEveryMs` (0 = never pause: undefined): yielding with `coreYield` where the thread could
 * load it, else sleeping, when the pool's run-queue source says a thread waits or, without one, every time.
 */
export function createPacing(
  yieldEveryMs: number,
  runQueue: Pick<RunQueueSource, "fd" | "cpus" | "shared"> | undefined,
  coreYield?: () => void,
): Pacing | undefined {
  if (yieldEveryMs <= 0) return undefined;
  if (coreYield !== undefined) return { everyMs: yieldEveryMs, shouldPause: () => true, pause: coreYield };
  // The pool's workers share one read per interval between them.
  const othersWaiting = runQueue === undefined ? undefined : sharedRunQueueProbe(runQueue);
  if (othersWaiting === undefined) {
    return {
      everyMs: Math.max(yieldEveryMs, FALLBACK_PAUSE_EVERY_MS),
      shouldPause: () => true,
      pause: sleepBriefly,
    };
  }
  return { everyMs: yieldEveryMs, shouldPause: othersWaiting, pause: sleepBriefly };
}
