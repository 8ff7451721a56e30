/**
 * The SQLite schema as an ordered list of migrations. `PRAGMA user_version` holds how many have been applied;
 * a new schema change is a new entry at the end — never edit an entry that has shipped.
 */
import type { DatabaseSync } from "node:sqlite";

/**
 * SQLite's largest rowid. The proto's ids are uint64, so a client may send up to 2^64−1; a larger id than this
 * names no task, and node:sqlite refuses to bind it (a TypeError, which would reach the client as an internal
 * error and, inside a group commit, roll back the other callers' writes).
 */
export const MAX_ROWID = 2n ** 63n - 1n;

export const MIGRATIONS: readonly string[] = [
  // 1: users, hashed tokens, tasks.
  `
  CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL
  );
  -- Only SHA-256(token) is stored; a token is shown once, when created.
  CREATE TABLE tokens (
    hash          BLOB PRIMARY KEY CHECK (length(hash) = 32),
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- AUTOINCREMENT (not just INTEGER PRIMARY KEY): ids are never reused, even after the highest one is deleted.
  -- Due dates are two integers so they round-trip exactly (seconds beyond 2038, nanos to 999999999).
  CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    done        INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    due_seconds INTEGER,
    due_nanos   INTEGER CHECK (due_nanos BETWEEN 0 AND 999999999),
    CHECK ((due_seconds IS NULL) = (due_nanos IS NULL))
  );
  -- Keyset pages of one user's tasks in id order, and ownership checks by (user, id).
  CREATE INDEX tasks_by_user ON tasks(user_id, id);
  `,
];

/** SQLite's SQLITE_BUSY, as node:sqlite reports it in `errcode`. */
const SQLITE_BUSY = 5;

/**
 * Puts the file in WAL mode (a no-op once it is). Two servers starting on one new data dir switch it at the same
 * moment: each holds a read lock while it asks for the exclusive one, and SQLite answers one of them "database is
 * locked" at once instead of calling the busy handler (waiting there could deadlock); that one failed about one
 * start in fifty. Its failure let go of its lock, so trying again finds the other's switch done. Retried for up to
 * `busyTimeoutMs`, as any other wait for a lock; only at startup, where a blocking sleep holds nothing up.
 */
export function switchToWal(db: DatabaseSync, busyTimeoutMs: number): void {
  const giveUpAt = performance.now() + busyTimeoutMs;
  for (;;) {
    try {
      db.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (error) {
      if ((error as { errcode?: unknown }).errcode !== SQLITE_BUSY || performance.now() >= giveUpAt)
        throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/**
 * Refuses, before anything is written to it, a database that is not cancelkit's to change: one written by a newer
 * cancelkit, or one at version 0 that already has tables (another program's file: migrating would add our tables
 * to it). Run before the file is switched to WAL, which would change even a file we then refuse.
 */
export function assertOurs(db: DatabaseSync): void {
  // One read transaction: another server migrating the file between the two reads would otherwise show us
  // version 0 and then its tables.
  db.exec("BEGIN");
  let current: number;
  let tables: string[];
  try {
    current = Number(readUserVersion(db));
    tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 4")
      .all()
      .map((row) => String(row.name));
  } finally {
    db.exec("COMMIT");
  }
  if (current > MIGRATIONS.length) throw newerSchema(current);
  if (current === 0 && tables.length > 0) {
    const names = tables.length > 3 ? `${tables.slice(0, 3).join(", ")}, …` : tables.join(", ");
    throw new Error(`not a cancelkit database: it has tables (${names}) but no cancelkit schema version`);
  }
}

function newerSchema(version: number): Error {
  return new Error(
    `database schema version ${version} is newer than this cancelkit supports (${MIGRATIONS.length})`,
  );
}

/**
 * Brings the database to the latest schema, one migration per transaction. Refuses a database written by a
 * newer cancelkit (user_version beyond what this code knows), rather than guessing.
 */
export function migrate(db: DatabaseSync): void {
  const current = Number(readUserVersion(db));
  if (current > MIGRATIONS.length) throw newerSchema(current);
  for (let version = current; version < MIGRATIONS.length; version++) {
    // IMMEDIATE takes the write lock first, so two processes opening a fresh data dir cannot both migrate.
    db.exec("BEGIN IMMEDIATE");
    try {
      if (Number(readUserVersion(db)) === version) {
        db.exec(MIGRATIONS[version] ?? "");
        db.exec(`PRAGMA user_version = ${version + 1}`);
      }
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}

export function readUserVersion(db: DatabaseSync): number | bigint {
  const row = db.prepare("PRAGMA user_version").get();
  const version = row?.user_version;
  return typeof version === "number" || typeof version === "bigint" ? version : 0;
}
