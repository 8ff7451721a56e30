/**
 * The event loop's side of the SQLite writer thread (sqlite-writer.ts): posts the writes of each turn together,
 * settles each promise with the writer's answer, and keeps GroupCommit's contract across the thread: a write
 * whose signal aborts while still queued never runs and rejects with the signal's reason; once its batch has
 * started it completes.
 */
import { Worker } from "node:worker_threads";
import { connectErrorOf, storeClosed } from "./errors.ts";
import type { GroupCommitOptions } from "./group-commit.ts";
import { WriteRefused } from "./refusals.ts";
import {
  type FromWriter,
  type ToWriter,
  uncarryError,
  type WriteOp,
  type WriteResults,
  type WriterEvent,
  type WriterInit,
  writerStopped,
} from "./sqlite-writer-protocol.ts";

export interface WriterOptions extends Omit<WriterInit, "reportBatches"> {
  onBatch: GroupCommitOptions["onBatch"];
  /** The thread ended without being closed (see SqliteStoreOptions.onBroken). */
  onBroken: ((reason: Error) => void) | undefined;
  /** The thread's entry module; default sqlite-writer.ts. */
  url: URL | undefined;
}

interface Waiting {
  op: WriteOp;
  /** Posted to the writer (else still in this turn's list). */
  posted: boolean;
  signal: AbortSignal;
  onAbort: () => void;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

export class SqliteWriter {
  readonly #thread: Worker;
  readonly #waiting = new Map<number, Waiting>();
  /** Writes asked for in this turn, posted together at its end. */
  #unposted: number[] = [];
  readonly #onBatch: GroupCommitOptions["onBatch"];
  readonly #onBroken: WriterOptions["onBroken"];
  readonly #opened: Promise<void>;
  #nextId = 1;
  /** Set once writes are refused: the store is closing, or the thread is gone. */
  #refusal: (() => Error) | undefined;
  #closing: Promise<void> | undefined;
  /** Its connection opened: from then on an exit not asked for breaks the store. */
  #ready = false;
  #onClosed: (() => void) | undefined;

  private constructor(init: WriterInit, options: WriterOptions) {
    this.#thread = new Worker(options.url ?? new URL("./sqlite-writer.ts", import.meta.url), {
      workerData: init,
    });
    this.#onBatch = options.onBatch;
    this.#onBroken = options.onBroken;
    this.#opened = new Promise<void>((resolve, reject) => this.#listen(resolve, reject));
  }

  /** Starts the thread and resolves once its connection is open (rejects with the reason it could not open). */
  static async start(options: WriterOptions): Promise<SqliteWriter> {
    const { path, busyTimeoutMs, durability, maxBatchRows, onBatch } = options;
    const init: WriterInit = {
      path,
      busyTimeoutMs,
      durability,
      maxBatchRows,
      reportBatches: onBatch !== undefined,
    };
    const writer = new SqliteWriter(init, options);
    try {
      await writer.#opened;
    } catch (error) {
      await writer.#thread.terminate();
      throw error;
    }
    // Idle, the thread does not keep the process alive; a write in flight does (see #track).
    writer.#thread.unref();
    return writer;
  }

  /** Runs `op` in the writer's next group commit; resolves once committed. */
  write<K extends WriteOp["kind"]>(
    signal: AbortSignal,
    op: Extract<WriteOp, { kind: K }>,
  ): Promise<WriteResults[K]> {
    if (this.#refusal !== undefined) return Promise.reject(this.#refusal());
    if (signal.aborted) return Promise.reject(signal.reason);
    const id = this.#nextId++;
    return new Promise<WriteResults[K]>((resolve, reject) => {
      const waiting: Waiting = {
        op,
        posted: false,
        signal,
        onAbort: () => {
          // Not posted yet: it never will be. Posted: only the writer knows whether its batch has started, and
          // answers `cancelled` or with the outcome.
          if (waiting.posted) this.#thread.postMessage({ type: "cancel", id } satisfies ToWriter);
          else this.#settle(id)?.reject(signal.reason);
        },
        resolve: (value) => resolve(value as WriteResults[K]),
        reject,
      };
      signal.addEventListener("abort", waiting.onAbort, { once: true });
      this.#track(id, waiting);
      if (this.#unposted.length === 0) setImmediate(() => this.#postTurn());
      this.#unposted.push(id);
    });
  }

  /** One message for the writes of a turn: they reach the writer together and share its next group commit. */
  #postTurn(): void {
    const writes: Array<{ id: number; op: WriteOp }> = [];
    for (const id of this.#unposted) {
      const waiting = this.#waiting.get(id);
      if (waiting === undefined) continue; // aborted before its turn ended
      waiting.posted = true;
      writes.push({ id, op: waiting.op });
    }
    this.#unposted = [];
    if (writes.length > 0) this.#thread.postMessage({ type: "writes", writes } satisfies ToWriter);
  }

  /** Commits what is queued and ends the thread. Writes asked for from now on are refused. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#refusal !== undefined) return; // the thread is gone already
    this.#refusal = storeClosed;
    const closed = new Promise<void>((resolve) => {
      this.#onClosed = resolve;
    });
    this.#thread.ref();
    this.#postTurn(); // writes asked for in this very turn are committed too
    this.#thread.postMessage({ type: "close" } satisfies ToWriter);
    await closed;
    await this.#thread.terminate();
  }

  #track(id: number, waiting: Waiting): void {
    if (this.#waiting.size === 0) this.#thread.ref();
    this.#waiting.set(id, waiting);
  }

  #settle(id: number): Waiting | undefined {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return undefined;
    this.#waiting.delete(id);
    waiting.signal.removeEventListener("abort", waiting.onAbort);
    if (this.#waiting.size === 0 && this.#onClosed === undefined) this.#thread.unref();
    return waiting;
  }

  #handle(event: WriterEvent): void {
    switch (event.type) {
      case "done":
        this.#settle(event.id)?.resolve(event.value);
        break;
      case "failed": {
        const error = uncarryError(event.error);
        this.#settle(event.id)?.reject(error instanceof WriteRefused ? connectErrorOf(error) : error);
        break;
      }
      case "cancelled": {
        const waiting = this.#settle(event.id);
        waiting?.reject(waiting.signal.reason);
        break;
      }
      case "batch":
        this.#onBatch?.({ writes: event.writes, rows: event.rows });
        break;
    }
  }

  #listen(opened: () => void, failedToOpen: (error: unknown) => void): void {
    this.#thread.on("message", (message: FromWriter) => {
      switch (message.type) {
        case "ready":
          this.#ready = true;
          opened();
          break;
        case "failedToOpen":
          failedToOpen(uncarryError(message.error));
          break;
        case "events":
          for (const event of message.events) this.#handle(event);
          break;
        case "closed":
          this.#onClosed?.();
          break;
      }
    });
    let lastError: unknown;
    this.#thread.on("error", (error) => {
      lastError = error;
    });
    this.#thread.on("exit", (code) => {
      const detail = lastError === undefined ? `exit code ${code}` : String(lastError);
      failedToOpen(writerStopped(detail)); // no effect once opened
      for (const id of [...this.#waiting.keys()]) this.#settle(id)?.reject(writerStopped(detail));
      if (this.#refusal === undefined && this.#ready) {
        // Not asked to close: the thread died under a running store.
        this.#refusal = () => writerStopped(detail);
        this.#onBroken?.(writerStopped(detail));
      }
      this.#onClosed?.();
    });
  }
}
