/**
 * Group commit: writes that arrive in the same event-loop turn run in one transaction, committed once, so
 * 64 concurrent AddTask calls cost one commit instead of 64. Each write's promise settles only after the
 * commit that contains it, so resolution still means durable.
 *
 * A transaction runs synchronously and holds its thread (the SQLite store runs this on a writer thread of its own,
 * sqlite-writer.ts). A batch is bounded by the rows it writes, not by the number of writes (one UpdateTasks call
 * may carry 10,000 rows), so that a small write does not wait long behind a large batch.
 */
import { storeClosed, WriteRefused } from "./refusals.ts";

/** The transaction primitives of one synchronous database connection. */
export interface TransactionControl {
  begin(): void;
  commit(): void;
  rollback(): void;
}

/**
 * Most rows one transaction writes. Measured on the project's 2-core VM (node:sqlite, WAL): 1,000 updates with
 * 1,000-emoji (4 KB) descriptions take about 10 ms, 1,000 `done` flips about 1.7 ms, 1,000 adds about 4 ms;
 * 2,000 rows double that, and the old cap of 512 calls × 10,000 rows could take seconds.
 */
export const DEFAULT_MAX_BATCH_ROWS = 1000;

export interface GroupCommitOptions {
  /**
   * Most rows in one transaction; the rest wait for the next turn, so the thread is not held. A single write
   * of more rows runs alone in its own transaction. Default {@link DEFAULT_MAX_BATCH_ROWS}.
   */
  maxBatchRows?: number;
  /** Called after each batch has run, with its writes and their rows: for metrics and tests. */
  onBatch?: (batch: { writes: number; rows: number }) => void;
}

interface PendingWrite {
  op: () => unknown;
  rows: number;
  signal: AbortSignal;
  onAbort: () => void;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Queues synchronous write operations and runs them in batches, one transaction per batch.
 *
 * Contract for an `op`: it runs inside an open transaction and must not await. It may throw a `WriteRefused`
 * (e.g. no such task) only after undoing its own writes (or before making any): the batch goes on without it. Any
 * other error is treated as a database failure: the batch is rolled back, that write rejects with the error, and
 * the rest of the batch is run again without it.
 */
export class GroupCommit {
  readonly #tx: TransactionControl;
  readonly #maxBatchRows: number;
  readonly #onBatch: GroupCommitOptions["onBatch"];
  #queue: PendingWrite[] = [];
  #scheduled = false;
  #closed = false;

  constructor(tx: TransactionControl, options: GroupCommitOptions = {}) {
    this.#tx = tx;
    this.#maxBatchRows = options.maxBatchRows ?? DEFAULT_MAX_BATCH_ROWS;
    this.#onBatch = options.onBatch;
  }

  /**
   * Runs `op` in the next batch and resolves with its result once that batch has committed. If `signal` is
   * already aborted, or aborts while the write is still queued, the write is removed and never runs; the promise
   * rejects with `signal.reason`. Once its batch has started, the write completes regardless of the signal.
   * `rows` is how many rows `op` writes, what the batch size is counted in.
   */
  run<T>(signal: AbortSignal, op: () => T, rows = 1): Promise<T> {
    if (this.#closed) return Promise.reject(storeClosed());
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const pending: PendingWrite = {
        op,
        rows,
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
    // Writes in arrival order up to the row budget; the first one always, however large.
    let count = 0;
    let rows = 0;
    for (const pending of this.#queue) {
      if (count > 0 && rows + pending.rows > this.#maxBatchRows) break;
      count++;
      rows += pending.rows;
    }
    const batch = this.#queue.splice(0, count);
    // From here on the writes are committed or failed, never cancelled: the signal no longer matters.
    for (const pending of batch) pending.signal.removeEventListener("abort", pending.onAbort);
    this.#commit(batch);
    this.#onBatch?.({ writes: count, rows });
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
          if (error instanceof WriteRefused) {
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
