/**
 * An in-memory TaskStore with the same semantics as the SQLite store (ids ascending and never reused, ownership,
 * all-or-nothing updates, lazy paged listing). Nothing survives the process: it is the baseline for benchmarks
 * and the fast store for tests.
 */
import type { Due } from "./due.ts";
import { alreadyExists, storeClosed, taskNotFound } from "./errors.ts";
import type {
  IssuedToken,
  ListTasksOptions,
  NewUser,
  StoredTask,
  TaskStore,
  TaskUpdate,
} from "./task-store.ts";
import { hashToken, newToken } from "./tokens.ts";
import { nextTurn } from "./turn.ts";

const DEFAULT_PAGE_SIZE = 256;

export class MemoryTaskStore implements TaskStore {
  /** Tasks per user. A Map iterates in insertion order, which is id order because ids only grow. */
  readonly #tasksByUser = new Map<bigint, Map<bigint, StoredTask>>();
  readonly #userNames = new Map<string, bigint>();
  /** Keyed by hex SHA-256 of the token, like the SQLite store: tokens are not kept in clear here either. */
  readonly #usersByTokenHash = new Map<string, bigint>();
  #lastTaskId = 0n;
  #lastUserId = 0n;
  #open = true;

  async addTask(signal: AbortSignal, userId: bigint, description: string, due: Due): Promise<bigint> {
    this.#check(signal);
    const id = ++this.#lastTaskId;
    this.#tasksOf(userId).set(id, { id, description, done: false, due: { ...due } });
    return id;
  }

  async *listTasks(
    signal: AbortSignal,
    userId: bigint,
    opts: ListTasksOptions = {},
  ): AsyncGenerator<StoredTask> {
    const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    // A live Map iterator is this store's cursor: it skips entries deleted meanwhile and reaches ones added
    // after it, like the SQLite keyset pages.
    let cursor: Iterator<StoredTask> | undefined;
    for (let page = 0; ; page++) {
      if (page > 0) await nextTurn(); // same fairness as the SQLite store, so the baseline is comparable
      this.#check(signal);
      cursor ??= this.#tasksOf(userId).values();
      const rows: StoredTask[] = [];
      while (rows.length < pageSize) {
        const next = cursor.next();
        if (next.done) break;
        rows.push(copyTask(next.value));
      }
      opts.onPageRead?.(rows.length);
      for (const row of rows) {
        signal.throwIfAborted();
        yield row;
      }
      if (rows.length < pageSize) return;
    }
  }

  async checkTask(signal: AbortSignal, userId: bigint, id: bigint): Promise<void> {
    this.#check(signal);
    if (!this.#tasksByUser.get(userId)?.has(id)) throw taskNotFound(id);
  }

  async updateTasks(signal: AbortSignal, userId: bigint, updates: readonly TaskUpdate[]): Promise<void> {
    this.#check(signal);
    const tasks = this.#tasksByUser.get(userId);
    // Check every id before changing anything: all or nothing.
    for (const update of updates) {
      if (!tasks?.has(update.id)) throw taskNotFound(update.id);
    }
    for (const update of updates) {
      const task = tasks?.get(update.id);
      if (task === undefined) continue; // unreachable: checked above
      if (update.description !== undefined) task.description = update.description;
      if (update.done !== undefined) task.done = update.done;
      if (update.due !== undefined) task.due = { ...update.due };
    }
  }

  async deleteTask(signal: AbortSignal, userId: bigint, id: bigint): Promise<void> {
    this.#check(signal);
    if (!this.#tasksByUser.get(userId)?.delete(id)) throw taskNotFound(id);
  }

  async createUser(signal: AbortSignal, name: string): Promise<NewUser> {
    this.#check(signal);
    if (this.#userNames.has(name)) throw alreadyExists(`user ${JSON.stringify(name)}`);
    const { userId, token } = await this.issueToken(signal, name);
    return { userId, token };
  }

  async issueToken(signal: AbortSignal, name: string): Promise<IssuedToken> {
    this.#check(signal);
    const existing = this.#userNames.get(name);
    const userId = existing ?? ++this.#lastUserId;
    const token = newToken();
    this.#userNames.set(name, userId);
    this.#usersByTokenHash.set(hashToken(token).toString("hex"), userId);
    return { userId, token, createdUser: existing === undefined };
  }

  async userForToken(signal: AbortSignal, token: string): Promise<bigint | undefined> {
    this.#check(signal);
    return this.#usersByTokenHash.get(hashToken(token).toString("hex"));
  }

  async countUsers(signal: AbortSignal): Promise<number> {
    this.#check(signal);
    return this.#userNames.size;
  }

  async close(): Promise<void> {
    this.#open = false;
  }

  #check(signal: AbortSignal): void {
    signal.throwIfAborted();
    if (!this.#open) throw storeClosed();
  }

  #tasksOf(userId: bigint): Map<bigint, StoredTask> {
    let tasks = this.#tasksByUser.get(userId);
    if (tasks === undefined) {
      tasks = new Map();
      this.#tasksByUser.set(userId, tasks);
    }
    return tasks;
  }
}

/** Listings hand out copies, so a later update does not change a task the consumer already holds. */
function copyTask(task: StoredTask): StoredTask {
  const copy: StoredTask = { id: task.id, description: task.description, done: task.done };
  if (task.due !== undefined) copy.due = { seconds: task.due.seconds, nanos: task.due.nanos };
  return copy;
}
