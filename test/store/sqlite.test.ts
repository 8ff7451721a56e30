/** What only the SQLite store promises: the file, its schema, hashed tokens, reopen and kill -9 durability. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmod, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { DatabaseSync } from "node:sqlite";
import { describe, test } from "node:test";
import { setImmediate as setImmediatePromise } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { DEFAULT_MAX_BATCH_ROWS } from "../../src/store/group-commit.ts";
import { DB_FILE_NAME, openSqliteStore } from "../../src/store/sqlite.ts";
import { MIGRATIONS } from "../../src/store/sqlite-schema.ts";
import { collect, FAR_DUE, never, tempDir } from "./helpers.ts";

describe("sqlite store", () => {
  test("creates <dataDir>/cancelkit.db in WAL mode at the latest schema version", async () => {
    const dir = await tempDir();
    const store = await openSqliteStore(join(dir, "nested", "data"));
    await store.close();
    const db = new DatabaseSync(join(dir, "nested", "data", DB_FILE_NAME));
    try {
      assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      assert.equal(db.prepare("PRAGMA user_version").get()?.user_version, MIGRATIONS.length);
    } finally {
      db.close();
    }
  });

  test("the database, its WAL and shared-memory files are 0600 even in an existing data dir open to others", async () => {
    const dir = await tempDir();
    await chmod(dir, 0o755);
    const store = await openSqliteStore(dir);
    await store.addTask(never, (await store.createUser(never, "u")).userId, "private", FAR_DUE);
    const files = (await readdir(dir)).filter((name) => name.startsWith(DB_FILE_NAME));
    assert.deepEqual(files.sort(), [DB_FILE_NAME, `${DB_FILE_NAME}-shm`, `${DB_FILE_NAME}-wal`]);
    for (const name of files) assert.equal((await stat(join(dir, name))).mode & 0o777, 0o600, name);
    await store.close();
  });

  test("a database and WAL files left 0644 by an older cancelkit are made 0600 when the store opens", async () => {
    const dir = await tempDir();
    const files = [DB_FILE_NAME, `${DB_FILE_NAME}-wal`, `${DB_FILE_NAME}-shm`];
    const modes = async () => {
      const names = (await readdir(dir)).filter((name) => name.startsWith(DB_FILE_NAME)).sort();
      assert.deepEqual(names, files.toSorted());
      return Promise.all(files.map(async (name) => ((await stat(join(dir, name))).mode & 0o777).toString(8)));
    };
    // An open store keeps its -wal and -shm (the server, while `cancelkit users add` opens a second one).
    const running = await openSqliteStore(dir);
    const { userId } = await running.createUser(never, "u");
    await running.addTask(never, userId, "before", FAR_DUE);
    for (const name of files) await chmod(join(dir, name), 0o644);
    const second = await openSqliteStore(dir);
    await second.addTask(never, userId, "private", FAR_DUE);
    assert.deepEqual(await modes(), ["600", "600", "600"]);
    await second.close();
    await running.close();
    // A closed database alone (SQLite removed its -wal and -shm): the new ones get its mode, now 0600.
    await chmod(join(dir, DB_FILE_NAME), 0o644);
    const reopened = await openSqliteStore(dir);
    await reopened.addTask(never, userId, "private too", FAR_DUE);
    assert.deepEqual(await modes(), ["600", "600", "600"]);
    await reopened.close();
  });

  test("reopening keeps the data and does not migrate again; a newer schema is refused", async () => {
    const dir = await tempDir();
    const first = await openSqliteStore(dir);
    const { userId } = await first.createUser(never, "alice");
    await first.addTask(never, userId, "kept", FAR_DUE);
    await first.close();
    const second = await openSqliteStore(dir);
    assert.deepEqual(
      (await collect(second.listTasks(never, userId))).map((t) => t.description),
      ["kept"],
    );
    await second.close();

    const db = new DatabaseSync(join(dir, DB_FILE_NAME));
    db.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    await assert.rejects(openSqliteStore(dir), /newer than this cancelkit supports/);
  });

  test("two servers switching one new database to WAL at the same moment both succeed", async () => {
    const dir = await tempDir();
    const rounds = 200;
    // Both open each new file at once: before the retry, about one switch in eight failed at once with
    // "database is locked" (over 200 rounds, some 50 failures).
    const barrier = new SharedArrayBuffer(4);
    const workers = [0, 1].map(
      () =>
        new Worker(new URL("./fixtures/open-at-once.ts", import.meta.url), {
          workerData: { barrier, dir, rounds },
        }),
    );
    const errors = await Promise.all(workers.map((w) => once(w, "message").then(([m]) => m as string[])));
    assert.deepEqual(errors.flat(), []);
    const db = new DatabaseSync(join(dir, "0.db"));
    assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
    db.close();
  });

  test("ids are never reused across a reopen, even after deleting the highest", async () => {
    const dir = await tempDir();
    const first = await openSqliteStore(dir);
    const { userId } = await first.createUser(never, "alice");
    await first.addTask(never, userId, "a", FAR_DUE);
    const highest = await first.addTask(never, userId, "b", FAR_DUE);
    await first.deleteTask(never, userId, highest);
    await first.close();
    const second = await openSqliteStore(dir);
    const next = await second.addTask(never, userId, "c", FAR_DUE);
    assert.ok(next > highest, `id ${next} must be above the deleted ${highest}`);
    await second.close();
  });

  test("tokens are never stored in clear: not in the database, its WAL, or after checkpoint", async () => {
    const dir = await tempDir();
    const store = await openSqliteStore(dir);
    const tokens: string[] = [];
    for (const name of ["alice", "bob", "carol"]) tokens.push((await store.createUser(never, name)).token);
    const assertAbsent = async (when: string) => {
      const files = (await readdir(dir)).filter((f) => f.startsWith(DB_FILE_NAME));
      assert.ok(files.length > 0);
      for (const file of files) {
        const bytes = await readFile(join(dir, file));
        for (const token of tokens) {
          assert.equal(bytes.indexOf(token), -1, `${when}: token text found in ${file}`);
          assert.equal(
            bytes.indexOf(Buffer.from(token, "base64url")),
            -1,
            `${when}: token bytes found in ${file}`,
          );
        }
      }
    };
    await assertAbsent("while open (WAL)");
    await store.close();
    await assertAbsent("after close (checkpointed)");
    // The tokens still work after a reopen, so what is stored is enough to authenticate.
    const reopened = await openSqliteStore(dir);
    assert.equal(await reopened.userForToken(never, tokens[1]!), 2n);
    await reopened.close();
  });

  test("a write aborted while waiting for its group commit never runs", async () => {
    const store = await openSqliteStore(await tempDir());
    const { userId } = await store.createUser(never, "alice");
    const controller = new AbortController();
    const reason = new Error("cancelled while queued");
    const kept = store.addTask(never, userId, "kept", FAR_DUE);
    const dropped = store.addTask(controller.signal, userId, "dropped", FAR_DUE);
    controller.abort(reason); // same tick: the batch has not run yet
    await assert.rejects(dropped, (error) => error === reason);
    await kept;
    assert.deepEqual(
      (await collect(store.listTasks(never, userId))).map((t) => t.description),
      ["kept"],
    );
    await store.close();
  });

  test("a write aborted after it reached the writer thread, but before its batch began, never runs", async () => {
    const store = await openSqliteStore(await tempDir());
    const { userId } = await store.createUser(never, "alice");
    const ids = await Promise.all(
      Array.from({ length: 10_000 }, () => store.addTask(never, userId, "x", FAR_DUE)),
    );
    // A 10,000-row call keeps the writer busy for tens of milliseconds...
    const busy = store.updateTasks(
      never,
      userId,
      ids.map((id) => ({ id, description: "busy" })),
    );
    await setImmediatePromise();
    // ...while this add, posted a turn later, waits behind it: its abort has to reach the writer.
    const controller = new AbortController();
    const reason = new Error("cancelled while the writer was busy");
    const late = store.addTask(controller.signal, userId, "late", FAR_DUE);
    await setImmediatePromise();
    controller.abort(reason);
    await assert.rejects(late, (error) => error === reason);
    await busy;
    const tasks = await collect(store.listTasks(never, userId));
    assert.equal(tasks.filter((task) => task.description === "late").length, 0);
    assert.equal(tasks.length, ids.length);
    await store.close();
  });

  test("large UpdateTasks calls commit in batches of at most the row budget, on the writer thread while the event loop turns", async (t) => {
    const batches: Array<{ writes: number; rows: number }> = [];
    const store = await openSqliteStore(await tempDir(), { onBatch: (batch) => batches.push(batch) });
    const { userId } = await store.createUser(never, "alice");
    const ids = await Promise.all(
      Array.from({ length: 10_000 }, () => store.addTask(never, userId, "x", FAR_DUE)),
    );
    batches.length = 0;
    // How many turns the event loop made while each call committed: a ticker counts them.
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const calls = Array.from({ length: 8 }, (_, n) =>
      store.updateTasks(
        never,
        userId,
        ids.map((id) => ({ id, description: `call ${n}` })),
      ),
    );
    const adds = Array.from({ length: 1500 }, () => store.addTask(never, userId, "later", FAR_DUE));
    const submittedAt = turn;
    const turns = await Promise.all(calls.map((call) => call.then(() => turn)));
    await Promise.all(adds);
    delay.disable();
    ticking = false;
    t.diagnostic(
      `turns at each call's commit ${turns.map((n) => n - submittedAt)}; longest event-loop delay ` +
        `${(delay.max / 1e6).toFixed(1)} ms; batches ${JSON.stringify(batches)}`,
    );
    // On the event loop, each 10,000-row transaction held it for its whole length: the eight calls resolved in
    // eight consecutive turns. On the writer thread, the event loop turns freely meanwhile.
    const last = (turns.at(-1) ?? submittedAt) - submittedAt;
    assert.ok(last >= 100, `only ${last} turns of the event loop while the eight calls committed`);
    for (const batch of batches) {
      assert.ok(batch.rows <= DEFAULT_MAX_BATCH_ROWS || batch.writes === 1, JSON.stringify(batch));
    }
    assert.deepEqual(
      batches.reduce((sum, batch) => [sum[0]! + batch.writes, sum[1]! + batch.rows], [0, 0]),
      [calls.length + adds.length, calls.length * ids.length + adds.length],
    );
    const tasks = await collect(store.listTasks(never, userId));
    assert.equal(tasks.filter((task) => task.description === `call ${calls.length - 1}`).length, ids.length);
    await store.close();
  });

  test("a writer thread that dies: its unanswered writes and every later one are refused, reads go on, onBroken is told once", async () => {
    const broken: Error[] = [];
    const store = await openSqliteStore(await tempDir(), {
      writerUrl: new URL("./fixtures/dying-writer.ts", import.meta.url),
      onBroken: (reason) => broken.push(reason),
    });
    const { userId } = await store.createUser(never, "alice");
    const kept = await store.addTask(never, userId, "kept", FAR_DUE);
    const stopped = /the task store's writer thread stopped: exit code 3/;
    // Same turn, same batch: the fixture dies on seeing it, before either is committed.
    const dying = store.addTask(never, userId, "die", FAR_DUE);
    const beside = store.deleteTask(never, userId, kept);
    await assert.rejects(dying, stopped);
    await assert.rejects(beside, stopped);
    await assert.rejects(store.addTask(never, userId, "later", FAR_DUE), stopped);
    assert.equal(broken.length, 1);
    assert.match(String(broken[0]), stopped);
    assert.deepEqual(
      (await collect(store.listTasks(never, userId))).map((t) => t.description),
      ["kept"],
    );
    await store.close();
    assert.equal(broken.length, 1);
  });

  test("close commits writes still queued", async () => {
    const dir = await tempDir();
    const store = await openSqliteStore(dir);
    const { userId } = await store.createUser(never, "alice");
    const added = store.addTask(never, userId, "queued at close", FAR_DUE);
    await store.close();
    const id = await added;
    const reopened = await openSqliteStore(dir);
    assert.deepEqual(
      (await collect(reopened.listTasks(never, userId))).map((t) => t.id),
      [id],
    );
    await reopened.close();
  });

  test("close called again while closing resolves only once the first has committed and closed", async () => {
    const dir = await tempDir();
    const store = await openSqliteStore(dir);
    const { userId } = await store.createUser(never, "alice");
    let committed = false;
    const added = store.addTask(never, userId, "queued at close", FAR_DUE).then(() => {
      committed = true;
    });
    const first = store.close();
    await store.close();
    assert.ok(committed, "the second close resolved before the write queued at close was committed");
    // Both connections closed: the last one checkpointed the WAL and removed it.
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.startsWith(DB_FILE_NAME)),
      [DB_FILE_NAME],
    );
    await Promise.all([first, added]);
  });

  test("acknowledged adds survive kill -9 of the process", { timeout: 30_000 }, async () => {
    const dir = await tempDir();
    const fixture = new URL("./fixtures/add-until-killed.ts", import.meta.url).pathname;
    const child = spawn(process.execPath, [fixture, dir], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once("exit", (_code, signal) => resolve(signal)),
    );
    const acked: bigint[] = [];
    let userId: bigint | undefined;
    try {
      for await (const line of createInterface({ input: child.stdout })) {
        const [word, value] = line.split(" ");
        if (word === "user") userId = BigInt(value!);
        if (word === "acked") acked.push(BigInt(value!));
        if (acked.length === 200) child.kill("SIGKILL"); // mid-stream: the child is still adding
      }
    } finally {
      child.kill("SIGKILL");
    }
    assert.equal(await exited, "SIGKILL");
    assert.ok(userId !== undefined && acked.length >= 200);
    const store = await openSqliteStore(dir);
    const stored = new Set((await collect(store.listTasks(never, userId))).map((t) => t.id));
    const lost = acked.filter((id) => !stored.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged adds lost`);
    await store.close();
  });
});
