/**
 * The SQLite store's writer thread: its own connection to the database, the group commit, and every write.
 * A transaction runs synchronously, so on the event loop a commit held every other call meanwhile (a 10,000-row
 * UpdateTasks about 0.3 s, during which no cancel of any call was heard); here it holds only this thread.
 * The event loop's connection only reads (sqlite.ts); in WAL mode readers and this writer do not block each other.
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { parentPort, workerData } from "node:worker_threads";
import { GroupCommit } from "./group-commit.ts";
import { alreadyExistsRefusal, taskNotFoundRefusal } from "./refusals.ts";
import { MAX_ROWID } from "./sqlite-schema.ts";
import {
  carryError,
  type FromWriter,
  type ToWriter,
  type WriteOp,
  type WriterEvent,
  type WriterInit,
} from "./sqlite-writer-protocol.ts";
import type { IssuedToken, NewUser, TaskUpdate } from "./task-store.ts";
import { hashToken, newToken } from "./tokens.ts";

interface WriteStatements {
  insertTask: StatementSync;
  updateTask: StatementSync;
  deleteTask: StatementSync;
  userByName: StatementSync;
  insertUser: StatementSync;
  insertToken: StatementSync;
  savepoint: StatementSync;
  release: StatementSync;
  rollbackTo: StatementSync;
}

function prepareWrites(db: DatabaseSync): WriteStatements {
  return {
    insertTask: db.prepare(
      "INSERT INTO tasks (user_id, description, done, due_seconds, due_nanos) VALUES (?, ?, 0, ?, ?)",
    ),
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
    savepoint: db.prepare("SAVEPOINT update_tasks"),
    release: db.prepare("RELEASE update_tasks"),
    rollbackTo: db.prepare("ROLLBACK TO update_tasks"),
  };
}

/** The write, as run inside a group commit's transaction (never awaits; see GroupCommit). */
function operation(sql: WriteStatements, op: WriteOp): { run: () => unknown; rows: number } {
  switch (op.kind) {
    case "addTask":
      return {
        run: () =>
          BigInt(sql.insertTask.run(op.userId, op.description, op.due.seconds, op.due.nanos).lastInsertRowid),
        rows: 1,
      };
    case "updateTasks":
      // Weighed by its rows: a 10,000-update call is a batch of its own, not one of 512 calls in a single turn.
      return { run: () => updateTasks(sql, op.userId, op.updates), rows: op.updates.length };
    case "deleteTask":
      return {
        run: () => {
          if (op.id > MAX_ROWID || Number(sql.deleteTask.run(op.id, op.userId).changes) === 0)
            throw taskNotFoundRefusal(op.id);
        },
        rows: 1,
      };
    case "createUser":
      return { run: () => createUser(sql, op.name), rows: 1 };
    case "issueToken":
      return { run: () => issueToken(sql, op.name), rows: 1 };
  }
}

function updateTasks(sql: WriteStatements, userId: bigint, updates: readonly TaskUpdate[]): void {
  // A savepoint: a notFound halfway undoes this call's earlier updates but not the other writes of the batch.
  sql.savepoint.run();
  try {
    for (const update of updates) {
      if (update.id > MAX_ROWID) throw taskNotFoundRefusal(update.id);
      const result = sql.updateTask.run(
        update.description ?? null,
        update.done === undefined ? null : update.done ? 1 : 0,
        update.due?.seconds ?? null,
        update.due?.nanos ?? null,
        update.id,
        userId,
      );
      if (Number(result.changes) === 0) throw taskNotFoundRefusal(update.id);
    }
  } catch (error) {
    sql.rollbackTo.run();
    sql.release.run();
    throw error;
  }
  sql.release.run();
}

function createUser(sql: WriteStatements, name: string): NewUser {
  if (sql.userByName.get(name) !== undefined) throw alreadyExistsRefusal(`user ${JSON.stringify(name)}`);
  const { userId, token } = issueToken(sql, name);
  return { userId, token };
}

function issueToken(sql: WriteStatements, name: string): IssuedToken {
  const now = Date.now();
  const existing = sql.userByName.get(name) as { id: bigint } | undefined;
  const userId = existing?.id ?? BigInt(sql.insertUser.run(name, now).lastInsertRowid);
  const token = newToken();
  sql.insertToken.run(hashToken(token), userId, now);
  return { userId, token, createdUser: existing === undefined };
}

function serve(init: WriterInit, port: NonNullable<typeof parentPort>): void {
  const send = (message: FromWriter) => port.postMessage(message);
  // Events wait for the end of the turn: a batch's answers all settle in one microtask checkpoint, so they go out
  // together.
  let events: WriterEvent[] = [];
  const flushEvents = () => {
    if (events.length === 0) return;
    send({ type: "events", events });
    events = [];
  };
  const report = (event: WriterEvent) => {
    if (events.length === 0) setImmediate(flushEvents);
    events.push(event);
  };
  let db: DatabaseSync;
  let sql: WriteStatements;
  try {
    db = new DatabaseSync(init.path, { timeout: init.busyTimeoutMs, readBigInts: true });
    // Per connection: the journal mode is the file's (set by the store), these two are this connection's.
    db.exec(`PRAGMA synchronous = ${init.durability === "power-loss" ? "FULL" : "NORMAL"}`);
    db.exec("PRAGMA foreign_keys = ON");
    sql = prepareWrites(db);
  } catch (error) {
    send({ type: "failedToOpen", error: carryError(error) });
    return;
  }
  const writes = new GroupCommit(
    {
      // IMMEDIATE: take the write lock at BEGIN, so a busy database fails (or waits) before any op runs.
      begin: () => db.exec("BEGIN IMMEDIATE"),
      commit: () => db.exec("COMMIT"),
      rollback: () => db.exec("ROLLBACK"),
    },
    {
      ...(init.maxBatchRows === undefined ? {} : { maxBatchRows: init.maxBatchRows }),
      ...(init.reportBatches ? { onBatch: (batch) => report({ type: "batch", ...batch }) } : {}),
    },
  );
  /** The abort of each write not yet answered: the store's cancel reaches it through this. */
  const waiting = new Map<number, AbortController>();
  port.on("message", (message: ToWriter) => {
    switch (message.type) {
      case "writes":
        for (const { id, op } of message.writes) {
          const cancel = new AbortController();
          waiting.set(id, cancel);
          const { run, rows } = operation(sql, op);
          writes.run(cancel.signal, run, rows).then(
            (value) => {
              waiting.delete(id);
              report({ type: "done", id, value });
            },
            (error: unknown) => {
              waiting.delete(id);
              const cancelled = cancel.signal.aborted && error === cancel.signal.reason;
              report(
                cancelled ? { type: "cancelled", id } : { type: "failed", id, error: carryError(error) },
              );
            },
          );
        }
        break;
      case "cancel":
        waiting.get(message.id)?.abort();
        break;
      case "close":
        writes.close(); // commits what is queued
        db.close();
        // After the answers of those last writes, which go out from their promises' callbacks.
        setImmediate(() => {
          flushEvents();
          send({ type: "closed" });
          port.close();
        });
        break;
    }
  });
  send({ type: "ready" });
}

if (parentPort !== null) serve(workerData as WriterInit, parentPort);
