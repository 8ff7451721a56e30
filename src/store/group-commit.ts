/**
 * Group commit: writes that arrive in the same event-loop turn run in one transaction, committed once, so
 * 64 concurrent AddTask calls cost one commit instead of 64. Each write's promise settles only after the
 * commit that contains it, so resolution still means durable.
 */
import { ConnectError } from "@connectrpc/connect";
import { storeClosed } from "./errors.ts";

/** The transaction primitives of one synchronous database connection. */
export interface TransactionControl {
  begin(): void;
  commit(): void;
  rollback(): void;
}

export interface GroupCommitOptions {
  /** Most writes in one transaction; the rest wait for the next turn so the event loop is not held. Default 512. */
  maxBatch?: number;
}

interface PendingWrite {
  op: () => unknown;
  signal: AbortSignal;
  onAbort: () => void;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Queues synchronous write operations and runs them in batches, one transaction per batch.
 *
 * Contract for an `op`: it runs inside an open transaction and must not await. It may throw a `ConnectError`
 * (e.g. notFound) only after undoing its own writes (or before making any): the batch goes on without it. Any
 * other error is treated as a database failure: the batch is rolled back, that write rejects with the error, and
 * the rest of the batch is run again without it.
 */
export class GroupCommit {
  readonly #tx: TransactionControl;
  readonly #maxBatch: number;
  #queue: PendingWrite[] = [];
  #scheduled = false;
  #closed = false;

  constructor(tx: TransactionControl, options: GroupCommitOptions = {}) {
    this.#tx = tx;
    this.#maxBatch = options.maxBatch ?? 512;
  }

  /**
   * Runs `op` in the next batch and resolves with its result once that batch has committed. If `signal` is
   * already aborted, or aborts while the write is still queued, the write is removed and never runs; the promise
   * rejects with `signal.reason`. Once its batch has started, the write completes regardless of the signal.
   */
  run<T>(signal: AbortSignal, op: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(storeClosed());
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const pending: PendingWrite = {
        op,
        signal,
        onAbort: () => {
          const index = this.#queue.indexOf(pending);
          if (index >= 0) this.#queue.splice(index, 1);
          reject(signal.reason);
        },
        resolve: (value) => resolve(value as T),
        reject,
      };
      signal.addEventListener("abort", pending.onAbort, { once: true });
      this.#queue.push(pending);
      this.#schedule();
    });
  }

  /** Commits everything still queued, synchronously, then refuses new writes. */
  close(): void {
    this.#closed = true;
    while (this.#queue.length > 0) this.#flushOne();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: it runs after the I/O callbacks of this turn, so requests that arrived
    // together (one socket read carrying many frames, or many sockets) share the commit.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushOne();
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  #flushOne(): void {
    const batch = this.#queue.splice(0, this.#maxBatch);
    // From here on the writes are committed or failed, never cancelled: the signal no longer matters.
    for (const pending of batch) pending.signal.removeEventListener("abort", pending.onAbort);
    this.#commit(batch);
  }

  #commit(batch: PendingWrite[]): void {
    let remaining = batch;
    while (remaining.length > 0) {
      try {
        this.#tx.begin();
      } catch (error) {
        for (const pending of remaining) pending.reject(error);
        return;
      }
      const outcomes: Outcome[] = [];
      let failedAt = -1;
      let failure: unknown;
      for (const [index, pending] of remaining.entries()) {
        try {
          outcomes.push({ ok: true, value: pending.op() });
        } catch (error) {
          if (error instanceof ConnectError) {
            outcomes.push({ ok: false, error });
          } else {
            failedAt = index;
            failure = error;
            break;
          }
        }
      }
      if (failedAt >= 0) {
        this.#rollbackQuietly();
        remaining[failedAt]?.reject(failure);
        remaining = remaining.filter((_, index) => index !== failedAt);
        continue;
      }
      try {
        this.#tx.commit();
      } catch (error) {
        this.#rollbackQuietly();
        for (const pending of remaining) pending.reject(error);
        return;
      }
      for (const [index, pending] of remaining.entries()) {
        const outcome = outcomes[index];
        if (outcome?.ok) pending.resolve(outcome.value);
        else pending.reject(outcome?.error);
      }
      return;
    }
  }

  #rollbackQuietly(): void {
    try {
      this.#tx.rollback();
    } catch {
      // SQLite may already have rolled the transaction back itself (e.g. after SQLITE_FULL or an I/O error).
    }
  }
}
