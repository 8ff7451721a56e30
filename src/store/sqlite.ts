/**
 * The embedded default store: one SQLite file in the data dir through Node's built-in `node:sqlite`
 * (`DatabaseSync`, no native addon). Statements are prepared once and reused; writes go through group commit;
 * listings read keyset pages, so no read transaction stays open while a slow client is being served.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Due } from "./due.ts";
import { alreadyExists, storeClosed, taskNotFound } from "./errors.ts";
import { GroupCommit, type GroupCommitOptions } from "./group-commit.ts";
import { migrate } from "./sqlite-schema.ts";
import type { ListTasksOptions, NewUser, StoredTask, TaskStore, TaskUpdate } from "./task-store.ts";
import { hashToken, newToken } from "./tokens.ts";
import { nextTurn } from "./turn.ts";

/** The database file inside the data dir. SQLite adds `-wal` and `-shm` next to it. */
export const DB_FILE_NAME = "cancelkit.db";
export const DEFAULT_PAGE_SIZE = 256;

export interface SqliteStoreOptions {
  /**
   * How far an acknowledged write is durable. Default `"process"`.
   * - `"process"` (`PRAGMA synchronous=NORMAL` in WAL mode): COMMIT returns after the transaction's frames are
   *   written into the WAL file, i.e. handed to the kernel. They survive `kill -9` or a crash of the server
   *   process, which is the durability cancelkit promises; only an OS crash or power loss can lose the last
   *   commits (the database itself stays consistent). No fsync per commit.
   * - `"power-loss"` (`PRAGMA synchronous=FULL`): additionally fsyncs the WAL at every commit, so acknowledged
   *   writes also survive power loss; costs one fsync per group commit.
   */
  durability?: "process" | "power-loss";
  /** How long a write waits for another process (e.g. `cancelkit users add`) holding the write lock. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** Most rows per group commit (an UpdateTasks call counts its updates). Default 1,000. */
  maxBatchRows?: number;
  /** Called after each group commit with its writes and rows: for metrics and tests. */
  onBatch?: GroupCommitOptions["onBatch"];
}

/** Opens (creating if needed) `<dataDir>/cancelkit.db` and brings its schema up to date. */
export async function openSqliteStore(
  dataDir: string,
  options: SqliteStoreOptions = {},
): Promise<SqliteTaskStore> {
  // 0700: the data dir also holds the token file.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // mkdir's mode applies only to a dir it creates, and an existing one may let others in: the database is made
  // 0600 itself, and SQLite gives its -wal and -shm files the database file's mode.
  const path = join(dataDir, DB_FILE_NAME);
  await writeFile(path, "", { flag: "a", mode: 0o600 });
  await restrictToOwner(path);
  return new SqliteTaskStore(path, options);
}

/**
 * writeFile's mode applies only to a file it creates: a database from before that (0644 under the usual umask)
 * would stay readable by every local user, and so would the -wal and -shm that SQLite gives the same mode.
 */
async function restrictToOwner(path: string): Promise<void> {
  await chmod(path, 0o600);
  for (const suffix of ["-wal", "-shm"]) {
    try {
      await chmod(path + suffix, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}

/**
 * SQLite's largest rowid. The proto's ids are uint64, so a client may send up to 2^64−1; a larger id than this
 * names no task, and node:sqlite refuses to bind it (a TypeError, which would reach the client as an internal
 * error and, inside a group commit, roll back the other callers' writes).
 */
const MAX_ROWID = 2n ** 63n - 1n;

interface Statements {
  insertTask: StatementSync;
  listPage: StatementSync;
  taskExists: StatementSync;
  updateTask: StatementSync;
  deleteTask: StatementSync;
  userByName: StatementSync;
  insertUser: StatementSync;
  insertToken: StatementSync;
  userForToken: StatementSync;
  countUsers: StatementSync;
  savepoint: StatementSync;
  release: StatementSync;
  rollbackTo: StatementSync;
}

export class SqliteTaskStore implements TaskStore {
  readonly #db: DatabaseSync;
  readonly #sql: Statements;
  readonly #writes: GroupCommit;
  #open = true;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    // readBigInts: ids and due seconds are int64; reading them as numbers would round beyond 2^53.
    this.#db = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5000, readBigInts: true });
    try {
      this.#db.exec("PRAGMA journal_mode = WAL");
      this.#db.exec(`PRAGMA synchronous = ${options.durability === "power-loss" ? "FULL" : "NORMAL"}`);
      this.#db.exec("PRAGMA foreign_keys = ON");
      migrate(this.#db);
      this.#sql = prepareStatements(this.#db);
    } catch (error) {
      this.#db.close();
      throw error;
    }
    const db = this.#db;
    this.#writes = new GroupCommit(
      {
        // IMMEDIATE: take the write lock at BEGIN, so a busy database fails (or waits) before any op runs.
        begin: () => db.exec("BEGIN IMMEDIATE"),
        commit: () => db.exec("COMMIT"),
        rollback: () => db.exec("ROLLBACK"),
      },
      {
        ...(options.maxBatchRows === undefined ? {} : { maxBatchRows: options.maxBatchRows }),
        ...(options.onBatch === undefined ? {} : { onBatch: options.onBatch }),
      },
    );
  }

  addTask(signal: AbortSignal, userId: bigint, description: string, due: Due): Promise<bigint> {
    return this.#writes.run(signal, () => {
      const result = this.#sql.insertTask.run(userId, description, due.seconds, due.nanos);
      return BigInt(result.lastInsertRowid);
    });
  }

  async *listTasks(
    signal: AbortSignal,
    userId: bigint,
    opts: ListTasksOptions = {},
  ): AsyncGenerator<StoredTask> {
    const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    let afterId = 0n; // AUTOINCREMENT ids start at 1
    for (let page = 0; ; page++) {
      // A turn of the event loop between pages lets an abort from the network land even if the consumer never
      // waits on I/O itself; the page read is the unit of work a cancel waits for.
      if (page > 0) await nextTurn();
      signal.throwIfAborted();
      this.#assertOpen();
      const rows = this.#sql.listPage.all(userId, afterId, pageSize) as unknown as TaskRow[];
      opts.onPageRead?.(rows.length);
      for (const row of rows) {
        signal.throwIfAborted();
        yield taskFromRow(row);
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < pageSize) return;
      afterId = last[0];
    }
  }

  async checkTask(signal: AbortSignal, userId: bigint, id: bigint): Promise<void> {
    signal.throwIfAborted();
    this.#assertOpen();
    if (id > MAX_ROWID || this.#sql.taskExists.get(id, userId) === undefined) throw taskNotFound(id);
  }

  updateTasks(signal: AbortSignal, userId: bigint, updates: readonly TaskUpdate[]): Promise<void> {
    const sql = this.#sql;
    const apply = () => {
      // A savepoint: a notFound halfway undoes this call's earlier updates but not the other writes of the batch.
      sql.savepoint.run();
      try {
        for (const update of updates) {
          if (update.id > MAX_ROWID) throw taskNotFound(update.id);
          const result = sql.updateTask.run(
            update.description ?? null,
            update.done === undefined ? null : update.done ? 1 : 0,
            update.due?.seconds ?? null,
            update.due?.nanos ?? null,
            update.id,
            userId,
          );
          if (Number(result.changes) === 0) throw taskNotFound(update.id);
        }
      } catch (error) {
        sql.rollbackTo.run();
        sql.release.run();
        throw error;
      }
      sql.release.run();
    };
    // Weighed by its rows: a 10,000-update call is a batch of its own, not one of 512 calls in a single turn.
    return this.#writes.run(signal, apply, updates.length);
  }

  deleteTask(signal: AbortSignal, userId: bigint, id: bigint): Promise<void> {
    return this.#writes.run(signal, () => {
      if (id > MAX_ROWID || Number(this.#sql.deleteTask.run(id, userId).changes) === 0)
        throw taskNotFound(id);
    });
  }

  createUser(signal: AbortSignal, name: string): Promise<NewUser> {
    return this.#writes.run(signal, () => {
      if (this.#sql.userByName.get(name) !== undefined) throw alreadyExists(`user ${JSON.stringify(name)}`);
      const now = Date.now();
      const userId = BigInt(this.#sql.insertUser.run(name, now).lastInsertRowid);
      const token = newToken();
      this.#sql.insertToken.run(hashToken(token), userId, now);
      return { userId, token };
    });
  }

  async userForToken(signal: AbortSignal, token: string): Promise<bigint | undefined> {
    signal.throwIfAborted();
    this.#assertOpen();
    const row = this.#sql.userForToken.get(hashToken(token)) as { user_id: bigint } | undefined;
    return row?.user_id;
  }

  async countUsers(signal: AbortSignal): Promise<number> {
    signal.throwIfAborted();
    this.#assertOpen();
    const row = this.#sql.countUsers.get() as { n: bigint } | undefined;
    return Number(row?.n ?? 0n);
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#writes.close(); // commits what is queued
    this.#open = false;
    this.#db.close(); // the last connection to close checkpoints the WAL into the main file
  }

  #assertOpen(): void {
    if (!this.#open) throw storeClosed();
  }
}

/** [id, description, done, due_seconds, due_nanos], as read with readBigInts and returnArrays. */
type TaskRow = [bigint, string, bigint, bigint | null, bigint | null];

function taskFromRow([id, description, done, dueSeconds, dueNanos]: TaskRow): StoredTask {
  const task: StoredTask = { id, description, done: done !== 0n };
  if (dueSeconds !== null && dueNanos !== null) task.due = { seconds: dueSeconds, nanos: Number(dueNanos) };
  return task;
}

function prepareStatements(db: DatabaseSync): Statements {
  const listPage = db.prepare(
    `SELECT id, description, done, due_seconds, due_nanos FROM tasks
     WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?`,
  );
  // Arrays, not objects: no per-row property names to build, measurably faster for 200k-row listings.
  listPage.setReturnArrays(true);
  return {
    insertTask: db.prepare(
      "INSERT INTO tasks (user_id, description, done, due_seconds, due_nanos) VALUES (?, ?, 0, ?, ?)",
    ),
    listPage,
    taskExists: db.prepare("SELECT 1 FROM tasks WHERE id = ? AND user_id = ?"),
    // NULL means "not set": each field keeps its value unless the update carries one.
    updateTask: db.prepare(
      `UPDATE tasks SET description = coalesce(?, description), done = coalesce(?, done),
         due_seconds = coalesce(?, due_seconds), due_nanos = coalesce(?, due_nanos)
       WHERE id = ? AND user_id = ?`,
    ),
    deleteTask: db.prepare("DELETE FROM tasks WHERE id = ? AND user_id = ?"),
    userByName: db.prepare("SELECT id FROM users WHERE name = ?"),
    insertUser: db.prepare("INSERT INTO users (name, created_at_ms) VALUES (?, ?)"),
    insertToken: db.prepare("INSERT INTO tokens (hash, user_id, created_at_ms) VALUES (?, ?, ?)"),
    userForToken: db.prepare("SELECT user_id FROM tokens WHERE hash = ?"),
    countUsers: db.prepare("SELECT count(*) AS n FROM users"),
    savepoint: db.prepare("SAVEPOINT update_tasks"),
    release: db.prepare("RELEASE update_tasks"),
    rollbackTo: db.prepare("ROLLBACK TO update_tasks"),
  };
}
