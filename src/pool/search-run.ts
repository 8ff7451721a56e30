/**
 * The consumer side of one search: an async iterator over committed hits, fed in candidate order by the
 * scheduler, ending with "done", or with an error after (budget) or instead of (abort, failure) the hits buffered.
 */
import type { Hit } from "../search/reference.ts";

/** What a search exposes to its caller. Iterate it once; stopping early (return()) stops the search. */
export interface SearchRun extends AsyncIterable<Hit> {
  /** Candidates searched so far (committed, in order). Final once the iterator has ended, however it ended. */
  readonly scanned: number;
  /** Slices of this search handed to workers so far (0 for a search that never ran). */
  readonly slicesStarted: number;
  /** Committed hits waiting to be read. */
  readonly buffered: number;
  /**
   * When a slice of this search last left the kernel, in ms on the machine's monotonic clock (clock.ts, read by
   * the worker); undefined before any slice has come back. Once the search has ended and the pool has no slice of
   * it left, this is when its last worker stopped: the end of the "cancel → stopped" span.
   */
  readonly lastLeftKernelAt: number | undefined;
}

/** Progress the run reads from its search record. */
export interface RunProgress {
  readonly scanned: number;
  readonly slicesStarted: number;
  readonly lastLeftKernelAt: number | undefined;
}

/** Calls from the run back into the scheduler. */
export interface RunHooks {
  /** The consumer took a hit: the search may resume if back-pressure paused it. */
  pulled(): void;
  /** The consumer stopped early (return()): stop the search. */
  returned(): void;
}

type Waiter = { resolve(result: IteratorResult<Hit>): void; reject(error: unknown): void };

export class HitChannel implements SearchRun, AsyncIterator<Hit> {
  readonly #signal: AbortSignal;
  readonly #progress: RunProgress;
  readonly #hooks: RunHooks;
  #hits: Hit[] = [];
  #head = 0;
  /** Set when the producer side is over: undefined error = ended normally. */
  #ended: { error?: unknown; failed: boolean } | undefined;
  /** Set once the consumer has seen the end (done or the error): later next() calls return done. */
  #closed = false;
  readonly #waiters: Waiter[] = [];

  constructor(signal: AbortSignal, progress: RunProgress, hooks: RunHooks) {
    this.#signal = signal;
    this.#progress = progress;
    this.#hooks = hooks;
  }

  get scanned(): number {
    return this.#progress.scanned;
  }

  get slicesStarted(): number {
    return this.#progress.slicesStarted;
  }

  get lastLeftKernelAt(): number | undefined {
    return this.#progress.lastLeftKernelAt;
  }

  get buffered(): number {
    return this.#hits.length - this.#head;
  }

  [Symbol.asyncIterator](): AsyncIterator<Hit> {
    return this;
  }

  /** Producer: a committed hit, in candidate order. */
  push(hit: Hit): void {
    if (this.#ended !== undefined) return;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve({ done: false, value: hit });
    else this.#hits.push(hit);
  }

  /** Producer: no more hits; the consumer gets the buffered ones, then done. */
  end(): void {
    this.#finish({ failed: false }, true);
  }

  /**
   * Producer: the search failed. With `afterBuffered` the consumer first reads the hits already committed (budget
   * exhausted); otherwise they are dropped and the next read throws (abort, internal failure, shutdown).
   */
  fail(error: unknown, afterBuffered: boolean): void {
    this.#finish({ error, failed: true }, afterBuffered);
  }

  next(): Promise<IteratorResult<Hit>> {
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    // An abort wins over whatever is buffered, even when the search itself already ended.
    if (this.#signal.aborted) {
      this.#closed = true;
      this.#drop();
      return Promise.reject(this.#signal.reason);
    }
    if (this.buffered > 0) {
      const hit = this.#hits[this.#head++] as Hit;
      if (this.#head === this.#hits.length) this.#drop();
      if (this.#ended === undefined) this.#hooks.pulled();
      return Promise.resolve({ done: false, value: hit });
    }
    if (this.#ended !== undefined) {
      this.#closed = true;
      return this.#ended.failed
        ? Promise.reject(this.#ended.error)
        : Promise.resolve({ done: true, value: undefined });
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The consumer stopped early: stops the search and drops what is buffered. */
  return(): Promise<IteratorResult<Hit>> {
    const wasOpen = this.#ended === undefined;
    this.#closed = true;
    this.#drop();
    this.#settleWaiters();
    if (wasOpen) {
      this.#ended = { failed: false };
      this.#hooks.returned();
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  #finish(ended: { error?: unknown; failed: boolean }, afterBuffered: boolean): void {
    if (this.#ended !== undefined) return;
    this.#ended = ended;
    if (!afterBuffered) this.#drop();
    this.#settleWaiters();
  }

  /** Waiters exist only while the buffer is empty, so they all see the end. */
  #settleWaiters(): void {
    for (const waiter of this.#waiters.splice(0)) {
      if (this.#ended?.failed === true && !this.#closed) {
        this.#closed = true;
        waiter.reject(this.#ended.error);
      } else {
        this.#closed = true;
        waiter.resolve({ done: true, value: undefined });
      }
    }
  }

  #drop(): void {
    this.#hits = [];
    this.#head = 0;
  }
}
