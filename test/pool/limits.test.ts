import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { isBudgetExhausted } from "../../src/errors.ts";
import { SEARCH_SPACE_END } from "../../src/search/candidates.ts";
import { searchPlain } from "../../src/search/reference.ts";
import { SCANNED_FROM } from "./fixtures/near-the-end-worker.ts";
import { collect, DOCTOR_RANGE, find, NEVER, noAbort, usePool } from "./helpers.ts";

const nearTheEndWorker = new URL("./fixtures/near-the-end-worker.ts", import.meta.url);

function assertResourceExhausted(error: unknown, limit: string): true {
  assert.ok(error instanceof ConnectError, `expected RESOURCE_EXHAUSTED (${limit}), got ${String(error)}`);
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

describe("end of the candidate space", () => {
  test("a search without a budget ends there as at a budget: its hits, then searchSpaceExhausted; its place is freed", {
    timeout: 60_000,
  }, async (t) => {
    // The fixture's workers skip every candidate below SCANNED_FROM and scan the last 50,000 for real; at 2^44
    // candidates a slice, a search reaches the end of the space, 2^53 − 1, in 512 slices.
    const pool = usePool(t, { workers: 2, maxRunning: 1, sliceSize: 2 ** 44, workerUrl: nearTheEndWorker });
    const query = { target: "doctor", ideal: 0, interesting: 3 };
    const expected = searchPlain(
      query.target,
      query.ideal,
      query.interesting,
      SCANNED_FROM,
      SEARCH_SPACE_END,
    );
    assert.ok(expected.length > 0, "hits to stream before the end");
    assert.ok(
      expected.every((hit) => hit.distance > query.ideal),
      "no hit ends the search before the end",
    );
    // A search that never ended would hold its place for ever: the timeouts make that a failure, not a hang.
    const run = pool.search(AbortSignal.timeout(20_000), { query, budget: 0, client: "a" });
    const next = pool.search(AbortSignal.timeout(40_000), { query: NEVER, budget: 0, client: "b" });
    assert.equal(pool.stats().queued, 1, "the second search waits for the only running place");

    const { hits, error } = await collect(run);
    assert.deepEqual(hits, expected, "every hit before the end is streamed first");
    assertResourceExhausted(error, `search space exhausted: all ${SEARCH_SPACE_END} candidates`);
    assert.ok(isBudgetExhausted(error), "logged as cause=budget, as a budget ending is");
    assert.equal(run.scanned, SEARCH_SPACE_END);

    // The place is free: the queued search runs, and ends the same way.
    assertResourceExhausted((await collect(next)).error, "search space exhausted");
    const { running, queued } = pool.stats();
    assert.deepEqual({ running, queued }, { running: 0, queued: 0 });
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
