/**
 * StopHandoff: after a cancel raises a search's stop flag, the event loop sleeps until that search's workers have
 * left the kernel, for at most `maxWaitMs`, so that the stop lands at once instead of after the cancel's own
 * bookkeeping.
 *
 * Why it is needed: the cancel wakes the event loop on a core where a worker (at the lowest priority) was
 * scanning. That worker is preempted, and Linux does not move a preempted thread to the other core while that
 * core keeps busy, so it reads its flag only once the event loop sleeps again — after Connect has run the call's
 * error path, 0.1–0.3 ms later on a 2-core VM. Sleeping right after the store hands the core straight to it: the
 * span from the store to the last worker out went from p50 0.27 to 0.05 ms there, with a grpc-go client
 * (docs/performance.md).
 *
 * A worker still inside after MOVE_AFTER_MS is, nearly always, one waiting for a CPU behind another thread: with a
 * WorkerMover, the event loop then moves it onto its own CPU, which its sleep frees, and gives it its CPUs back when
 * the wait ends (worker-mover.ts). Over eight paired runs of 1,000 cancels, the trials over 2 ms that lost their
 * time after the signal went from 59 to 23 in process, and from 34 to 19 with the grpc-go client.
 *
 * A wait that runs out means something else holds the cores and waiting does not help: the stops of the next
 * BACKOFF_MS do not wait, so a starved machine cannot turn a stream of cancels into a stalled event loop.
 */
import { sleepUntilSlotLeft, stopFlagIndex } from "./shared-state.ts";
import type { WorkerMover } from "./worker-mover.ts";

/** What the handoff asks of a WorkerMover. */
export type LateWorkerMover = Pick<WorkerMover, "moveHere" | "restore">;

/** How long stops go without waiting after a wait that ran out. */
export const BACKOFF_MS = 100;

/**
 * How long the event loop waits before it moves the workers still inside: later than 89–98 % of stops in the
 * bench on a 2-core VM (the median is 0.05–0.09 ms), so that a prompt stop costs no system call.
 */
export const MOVE_AFTER_MS = 0.2;

export interface StopHandoffStats {
  /** Stops after which the event loop slept. */
  waits: number;
  /** Of those, waits that ran out with a worker still inside the kernel. */
  timedOut: number;
  /** Stops that did not wait because a recent wait had run out. */
  skipped: number;
  /** Workers moved onto the event loop's CPU during waits (WorkerMover). */
  moved: number;
  /** Late workers left where they were because they were running: on a vCPU the host was not running. */
  leftRunning: number;
}

export class StopHandoff {
  readonly #state: Int32Array;
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  readonly #mover: LateWorkerMover | undefined;
  #quietUntil = Number.NEGATIVE_INFINITY;
  readonly #stats: StopHandoffStats = { waits: 0, timedOut: 0, skipped: 0, moved: 0, leftRunning: 0 };

  /**
   * @param maxWaitMs longest sleep after one stop; 0 = never sleep
   * @param mover moves late workers onto the event loop's CPU; absent where threads cannot be moved
   * @param now clock for the back-off (tests substitute one)
   */
  constructor(
    state: Int32Array,
    maxWaitMs: number,
    mover?: LateWorkerMover,
    now: () => number = () => performance.now(),
  ) {
    this.#state = state;
    this.#maxWaitMs = maxWaitMs;
    this.#mover = mover;
    this.#now = now;
  }

  /** Sleeps until the workers of stop slot `slot` are out of the kernel (the flag must already be raised). */
  afterStop(slot: number): void {
    if (this.#maxWaitMs <= 0) return;
    if (this.#now() < this.#quietUntil) {
      this.#stats.skipped++;
      return;
    }
    this.#stats.waits++;
    if (this.#sleep(slot)) return;
    this.#stats.timedOut++;
    this.#quietUntil = this.#now() + BACKOFF_MS;
  }

  /** Sleeps until the slot's workers are out, moving the late ones after MOVE_AFTER_MS; whether they got out. */
  #sleep(slot: number): boolean {
    const mover = this.#mover;
    if (mover === undefined || this.#maxWaitMs <= MOVE_AFTER_MS) {
      return sleepUntilSlotLeft(this.#state, slot, this.#maxWaitMs);
    }
    if (sleepUntilSlotLeft(this.#state, slot, MOVE_AFTER_MS)) return true;
    const { moved, leftRunning } = mover.moveHere(stopFlagIndex(slot));
    this.#stats.moved += moved;
    this.#stats.leftRunning += leftRunning;
    try {
      return sleepUntilSlotLeft(this.#state, slot, this.#maxWaitMs - MOVE_AFTER_MS);
    } finally {
      if (moved > 0) mover.restore();
    }
  }

  get stats(): Readonly<StopHandoffStats> {
    return { ...this.#stats };
  }
}
