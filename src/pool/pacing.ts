/**
 * When a worker's scan gives its core away (the kernel's Pacing): every `yieldEveryMs` of scanning it asks
 * whether another thread is waiting for a CPU, and pauses for a moment only if one is. The event loop that must
 * hear a cancel, a client on the same machine, V8's GC and compiler threads then get a core within that
 * interval, while a search on an otherwise idle machine pays only for the questions (about 2 µs each).
 *
 * Where the run queue cannot be read (not Linux), the worker cannot tell, so it pauses unconditionally, and no
 * more often than every FALLBACK_PAUSE_EVERY_MS, which bounds what the pauses cost (about 0.06 ms each).
 */
import type { Pacing } from "../search/kernel.ts";
import { type RunQueueSource, sharedRunQueueProbe } from "./run-queue.ts";

export const FALLBACK_PAUSE_EVERY_MS = 0.5;

/** What the workers of a pool do, for the server's listening log: which of the three cases below applies. */
export type PausingMode = "when-a-thread-waits" | "unconditionally" | "never";

export function pausingMode(yieldEveryMs: number, runQueue: object | undefined): PausingMode {
  if (yieldEveryMs <= 0) return "never";
  return runQueue === undefined ? "unconditionally" : "when-a-thread-waits";
}

/** The pacing for `yieldEveryMs` (0 = never pause: undefined) with the pool's run-queue source, if any. */
export function createPacing(
  yieldEveryMs: number,
  runQueue: Pick<RunQueueSource, "fd" | "cpus" | "shared"> | undefined,
): Pacing | undefined {
  if (yieldEveryMs <= 0) return undefined;
  // The pool's workers share one read per interval between them.
  const othersWaiting = runQueue === undefined ? undefined : sharedRunQueueProbe(runQueue);
  if (othersWaiting === undefined) {
    return { everyMs: Math.max(yieldEveryMs, FALLBACK_PAUSE_EVERY_MS), shouldPause: () => true };
  }
  return { everyMs: yieldEveryMs, shouldPause: othersWaiting };
}
