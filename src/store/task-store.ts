/**
 * Task storage behind one interface, so the embedded SQLite store, the in-memory store and a later PostgreSQL
 * store are interchangeable. Every method takes the call's `AbortSignal` first.
 *
 * Abort contract, the same for every method and every implementation:
 * - already aborted when called → rejects with `signal.reason`, touches nothing;
 * - aborted while waiting to run (e.g. queued for the next group commit) → removed, never runs, rejects with
 *   `signal.reason`;
 * - a write that has committed resolves even if the signal aborts in the meantime: resolution means durable.
 * No method leaves a listener on the signal after it settles.
 *
 * Ownership: every task belongs to one user; a method given another user's task id behaves exactly as for an
 * id that does not exist (`notFound`), so ids never reveal other users' tasks.
 */
import type { Due } from "./due.ts";

export type { Due } from "./due.ts";

/** A task as stored. `id` is assigned by the store: ascending, never reused, even after delete. */
export interface StoredTask {
  id: bigint;
  description: string;
  done: boolean;
  due?: Due | undefined;
}

/** A change to one task: only the fields that are set are changed. */
export interface TaskUpdate {
  id: bigint;
  description?: string | undefined;
  done?: boolean | undefined;
  due?: Due | undefined;
}

export interface ListTasksOptions {
  /** Rows read per page (one query each). Default 256. */
  pageSize?: number;
  /** Called after each page is read, with its row count; for metrics and for tests that count reads. */
  onPageRead?: (rows: number) => void;
}

export interface NewUser {
  userId: bigint;
  /** The bearer token, shown once: only its SHA-256 is stored. */
  token: string;
}

/** What `issueToken` made: the token, its user, and whether that user was created for it. */
export interface IssuedToken extends NewUser {
  createdUser: boolean;
}

export interface TaskStore {
  /**
   * Adds a task for `userId` and resolves with its new id once the write is durable. Does not validate the
   * fields (the RPC layer does, see limits.ts and due.ts). Aborting while queued: never written.
   */
  addTask(signal: AbortSignal, userId: bigint, description: string, due: Due): Promise<bigint>;

  /**
   * The user's tasks in ascending id order, read lazily: nothing is read until the first pull, and the next page
   * is read only when the consumer has taken every row of the previous one (back-pressure). Not a snapshot: a task
   * added with a higher id during the listing may appear, one deleted before its page is read does not.
   * Checks the signal before each row and each page; once aborted, throws `signal.reason` and reads no further.
   * The event loop gets a turn between pages, so an abort arriving from I/O is seen within one page.
   */
  listTasks(signal: AbortSignal, userId: bigint, opts?: ListTasksOptions): AsyncIterable<StoredTask>;

  /** Resolves if task `id` exists and belongs to `userId`, without writing; otherwise rejects with `notFound`. */
  checkTask(signal: AbortSignal, userId: bigint, id: bigint): Promise<void>;

  /**
   * Applies all updates in one transaction, in order (a later update of the same id sees the earlier one), all
   * or nothing: an unknown or foreign id rejects with `notFound` naming it and nothing is applied. Aborting
   * before the transaction runs: nothing is applied.
   */
  updateTasks(signal: AbortSignal, userId: bigint, updates: readonly TaskUpdate[]): Promise<void>;

  /** Deletes one task; resolves once the delete is durable. Unknown or foreign id: rejects with `notFound`. */
  deleteTask(signal: AbortSignal, userId: bigint, id: bigint): Promise<void>;

  /** Creates a user with a fresh random token. A name already taken rejects with `alreadyExists`. */
  createUser(signal: AbortSignal, name: string): Promise<NewUser>;

  /**
   * A fresh token for user `name`, creating the user first if there is none (how the server recovers its local
   * user's token file). The user's earlier tokens stay valid.
   */
  issueToken(signal: AbortSignal, name: string): Promise<IssuedToken>;

  /** The user a bearer token belongs to, or `undefined` for an unknown token. */
  userForToken(signal: AbortSignal, token: string): Promise<bigint | undefined>;

  countUsers(signal: AbortSignal): Promise<number>;

  /** Commits writes already queued, then closes. Later calls reject with `storeClosed`. Idempotent. */
  close(): Promise<void>;
}
