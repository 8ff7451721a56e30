/**
 * StopHandoff: after a cancel raises a search's stop flag, the event loop sleeps until that search's workers have
 * left the kernel, for at most `maxWaitMs`, so that the stop lands at once instead of after the cancel's own
 * bookkeeping.
 *
 * Why it is needed: the cancel wakes the event loop on a core where a worker (at the lowest priority) was
 * scanning. That worker is preempted, and Linux does not move a preempted thread to the other core while that
 * core keeps busy, so it reads its flag only once the event loop sleeps again — after Connect has run the call's
 * error path, 0.1–0.3 ms later on a 2-core VM. Sleeping right after the store hands the core straight to it: the
 * span from the store to the last worker out went from p50 0.27 to 0.05 ms there, with a grpc-go client (README,
 * "Performance").
 *
 * A wait that runs out means something else holds the cores and waiting does not help: the stops of the next
 * BACKOFF_MS do not wait, so a starved machine cannot turn a stream of cancels into a stalled event loop.
 */
import { sleepUntilSlotLeft } from "./shared-state.ts";

/** How long stops go without waiting after a wait that ran out. */
export const BACKOFF_MS = 100;

export interface StopHandoffStats {
  /** Stops after which the event loop slept. */
  waits: number;
  /** Of those, waits that ran out with a worker still inside the kernel. */
  timedOut: number;
  /** Stops that did not wait because a recent wait had run out. */
  skipped: number;
}

export class StopHandoff {
  readonly #state: Int32Array;
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  #quietUntil = Number.NEGATIVE_INFINITY;
  readonly #stats: StopHandoffStats = { waits: 0, timedOut: 0, skipped: 0 };

  /**
   * @param maxWaitMs longest sleep after one stop; 0 = never sleep
   * @param now clock for the back-off (tests substitute one)
   */
  constructor(state: Int32Array, maxWaitMs: number, now: () => number = () => performance.now()) {
    this.#state = state;
    this.#maxWaitMs = maxWaitMs;
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
    if (sleepUntilSlotLeft(this.#state, slot, this.#maxWaitMs)) return;
    this.#stats.timedOut++;
    this.#quietUntil = this.#now() + BACKOFF_MS;
  }

  get stats(): Readonly<StopHandoffStats> {
    return { ...this.#stats };
  }
}
