import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { searchPlain } from "../../src/search/reference.ts";
import { collect, DOCTOR_RANGE, find, NEVER, noAbort, usePool } from "./helpers.ts";

function assertResourceExhausted(error: unknown, limit: string): true {
  assert.ok(error instanceof ConnectError);
  assert.equal(error.code, Code.ResourceExhausted);
  assert.match(error.message, new RegExp(limit));
  return true;
}

describe("budget", () => {
  test("a budget that stops one candidate short of the ideal hit: budgetExhausted, nothing past it", async (t) => {
    const pool = usePool(t, { sliceSize: 7 });
    const run = pool.search(noAbort(), { query: find("aa", 0), budget: 101, client: "c" });
    const { hits, error } = await collect(run);
    assert.deepEqual(hits, []);
    assertResourceExhausted(error, "maximum-hashes=101");
    assert.equal(
      run.scanned,
      101,
      "examined exactly [0, budget), though 101 is not a multiple of the slice size",
    );
  });

  test("a budget that includes the ideal hit finds it", async (t) => {
    const pool = usePool(t, { sliceSize: 7 });
    const { hits, error } = await collect(
      pool.search(noAbort(), { query: find("aa", 0), budget: 102, client: "c" }),
    );
    assert.equal(error, undefined);
    assert.deepEqual(hits, [{ index: 101, distance: 0 }]);
  });

  test("a stream yields every hit before the budget, then budgetExhausted", async (t) => {
    const pool = usePool(t, { workers: 2, sliceSize: 1000 });
    const budget = 20_000;
    const run = pool.search(noAbort(), { query: DOCTOR_RANGE, budget, client: "c" });
    const { hits, error } = await collect(run);
    assert.deepEqual(hits, searchPlain("doctor", 1, 3, 0, budget));
    assertResourceExhausted(error, `maximum-hashes=${budget}`);
    assert.equal(run.scanned, budget);
  });
});

describe("limits", () => {
  test("a full queue refuses at once with serverFull and starts nothing", { timeout: 30_000 }, async (t) => {
    const pool = usePool(t, { workers: 1, maxRunning: 1, maxQueued: 1, sliceSize: 2 ** 40 });
    const controller = new AbortController();
    const running = pool.search(controller.signal, { query: NEVER, budget: 0, client: "a" });
    const queued = pool.search(controller.signal, { query: NEVER, budget: 0, client: "b" });
    const before = pool.stats();
    assert.throws(
      () => pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" }),
      (error) => assertResourceExhausted(error, "max-queued=1"),
    );
    assert.deepEqual(pool.stats(), before);
    controller.abort(new Error("done"));
    await Promise.all([collect(running), collect(queued)]);
  });

  test("a client over its share is refused with clientOverShare; other clients are not", {
    timeout: 30_000,
  }, async (t) => {
    const pool = usePool(t, { workers: 1, maxRunning: 1, maxQueued: 8, maxPerClient: 2, sliceSize: 2 ** 40 });
    const controller = new AbortController();
    const first = pool.search(controller.signal, { query: NEVER, budget: 0, client: "greedy" });
    const second = pool.search(controller.signal, { query: NEVER, budget: 0, client: "greedy" });
    const before = pool.stats();
    assert.throws(
      () => pool.search(controller.signal, { query: NEVER, budget: 0, client: "greedy" }),
      (error) => assertResourceExhausted(error, "max-per-client=2"),
    );
    assert.deepEqual(pool.stats(), before);
    const other = pool.search(controller.signal, { query: NEVER, budget: 0, client: "modest" });
    assert.equal(pool.stats().queued, 2);
    controller.abort(new Error("done"));
    await Promise.all([collect(first), collect(second), collect(other)]);
    // Ended searches give their share back.
    const again = pool.search(noAbort(), { query: find("a", 0), budget: 0, client: "greedy" });
    assert.deepEqual((await collect(again)).hits, [{ index: 0, distance: 0 }]);
  });
});
