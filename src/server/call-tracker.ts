/** Counts the calls in progress, so that shutdown can wait for them to finish within the grace period. */
import { abortable } from "../abort.ts";

export class CallTracker {
  #active = 0;
  #idleWaiters = new Set<() => void>();

  get active(): number {
    return this.#active;
  }

  /** Marks a call as started; the returned function marks it finished (idempotent). */
  begin(): () => void {
    this.#active++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#active--;
      if (this.#active === 0) for (const wake of this.#idleWaiters) wake();
    };
  }

  /** Resolves when no call is in progress; rejects with the signal's reason if it aborts first. */
  whenIdle(signal: AbortSignal): Promise<void> {
    return abortable(signal, (resolve) => {
      if (this.#active === 0) {
        resolve();
        return () => {};
      }
      this.#idleWaiters.add(resolve);
      return () => this.#idleWaiters.delete(resolve);
    });
  }
}
