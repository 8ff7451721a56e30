/** Group commit against a fake connection that records its transactions. */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, test } from "node:test";
import { DEFAULT_MAX_BATCH_ROWS, GroupCommit } from "../../src/store/group-commit.ts";
import { taskNotFoundRefusal } from "../../src/store/refusals.ts";

function fakeConnection() {
  const log: string[] = [];
  let failCommit = false;
  return {
    log,
    failNextCommit: () => {
      failCommit = true;
    },
    tx: {
      begin: () => log.push("begin"),
      commit: () => {
        if (failCommit) {
          failCommit = false;
          throw new Error("disk I/O error");
        }
        log.push("commit");
      },
      rollback: () => log.push("rollback"),
    },
  };
}

const never = new AbortController().signal;

describe("GroupCommit", () => {
  test("writes of the same tick share one transaction and resolve after its commit, in order", async () => {
    const db = fakeConnection();
    const writes = new GroupCommit(db.tx);
    const results = Promise.all(
      [1, 2, 3].map((n) =>
        writes.run(never, () => {
          db.log.push(`op${n}`);
          return n;
        }),
      ),
    );
    assert.deepEqual(db.log, [], "nothing runs in the calling tick");
    assert.deepEqual(await results, [1, 2, 3]);
    assert.deepEqual(db.log, ["begin", "op1", "op2", "op3", "commit"]);
  });

  test("an op that throws a WriteRefused rejects alone; the rest of the batch commits", async () => {
    const db = fakeConnection();
    const writes = new GroupCommit(db.tx);
    const results = await Promise.allSettled([
      writes.run(never, () => db.log.push("a")),
      writes.run(never, () => {
        throw taskNotFoundRefusal(9n);
      }),
      writes.run(never, () => db.log.push("c")),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.deepEqual(db.log, ["begin", "a", "c", "commit"]);
  });

  test("a database error rolls the batch back, rejects that write, and reruns the others", async () => {
    const db = fakeConnection();
    const writes = new GroupCommit(db.tx);
    const failure = new Error("constraint failed");
    const results = await Promise.allSettled([
      writes.run(never, () => db.log.push("a")),
      writes.run(never, () => {
        throw failure;
      }),
      writes.run(never, () => db.log.push("c")),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.equal((results[1] as PromiseRejectedResult).reason, failure);
    assert.deepEqual(db.log, ["begin", "a", "rollback", "begin", "a", "c", "commit"]);
  });

  test("a failed commit rejects every write of the batch", async () => {
    const db = fakeConnection();
    const writes = new GroupCommit(db.tx);
    db.failNextCommit();
    const results = await Promise.allSettled([writes.run(never, () => 1), writes.run(never, () => 2)]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["rejected", "rejected"],
    );
    assert.deepEqual(db.log, ["begin", "rollback"]);
  });

  test("aborted while queued: removed, never runs, rejects with the reason, leaves no listener", async () => {
    const db = fakeConnection();
    const writes = new GroupCommit(db.tx);
    const controller = new AbortController();
    const reason = new Error("client cancelled");
    const kept = writes.run(never, () => db.log.push("kept"));
    const dropped = writes.run(controller.signal, () => db.log.push("dropped"));
    assert.equal(getEventListeners(controller.signal, "abort").length, 1);
    controller.abort(reason);
    await assert.rejects(dropped, (error) => error === reason);
    await kept;
    assert.deepEqual(db.log, ["begin", "kept", "commit"]);
  });

  test("an abort after the batch started does not undo the write; the listener is gone", async () => {
    const db = fakeConnection();
    const writes = new GroupCommit(db.tx);
    const controller = new AbortController();
    const written = writes.run(controller.signal, () => {
      db.log.push("op");
      controller.abort(new Error("too late"));
      return "done";
    });
    assert.equal(await written, "done");
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
    assert.deepEqual(db.log, ["begin", "op", "commit"]);
  });

  test("batches are capped at maxBatchRows rows; the rest commit in following turns", async () => {
    const db = fakeConnection();
    const writes = new GroupCommit(db.tx, { maxBatchRows: 2 });
    await Promise.all([1, 2, 3, 4, 5].map((n) => writes.run(never, () => db.log.push(`op${n}`))));
    assert.deepEqual(db.log.filter((entry) => entry === "commit").length, 3);
  });

  test("writes are weighed by their rows: no batch holds more than the budget; a larger write runs alone", async () => {
    const db = fakeConnection();
    const batches: Array<{ writes: number; rows: number }> = [];
    const writes = new GroupCommit(db.tx, { onBatch: (batch) => batches.push(batch) });
    // 16 UpdateTasks calls of 10,000 rows, queued in one turn between adds (1 row each).
    const sizes = [
      ...Array<number>(300).fill(1),
      ...Array<number>(16).fill(10_000),
      ...Array<number>(1500).fill(1),
      600,
      600,
    ];
    await Promise.all(sizes.map((rows) => writes.run(never, () => db.log.push(String(rows)), rows)));
    // Rows per transaction, read from what the connection saw.
    const committed: number[][] = [];
    for (const entry of db.log) {
      if (entry === "begin") committed.push([]);
      else if (entry !== "commit") committed.at(-1)?.push(Number(entry));
    }
    const rowsOf = (batch: number[]) => batch.reduce((sum, rows) => sum + rows, 0);
    for (const batch of committed) {
      assert.ok(
        rowsOf(batch) <= DEFAULT_MAX_BATCH_ROWS || batch.length === 1,
        `a batch of ${batch.length} writes, ${rowsOf(batch)} rows`,
      );
    }
    assert.equal(committed.filter((batch) => rowsOf(batch) === 10_000 && batch.length === 1).length, 16);
    assert.deepEqual(committed.flat(), sizes, "every write ran once, in order");
    assert.deepEqual(
      batches,
      committed.map((batch) => ({ writes: batch.length, rows: rowsOf(batch) })),
    );
  });

  test("close commits what is queued synchronously and refuses later writes", async () => {
    const db = fakeConnection();
    const writes = new GroupCommit(db.tx);
    const queued = writes.run(never, () => "queued");
    writes.close();
    assert.deepEqual(db.log, ["begin", "commit"]);
    assert.equal(await queued, "queued");
    await assert.rejects(
      writes.run(never, () => "late"),
      /closed/,
    );
  });
});
