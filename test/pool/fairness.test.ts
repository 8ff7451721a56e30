import assert from "node:assert/strict";
import { test } from "node:test";
import { collect, find, NEVER, noAbort, usePool } from "./helpers.ts";

test("a short search completes while an unbounded one keeps the only worker busy", {
  timeout: 30_000,
}, async (t) => {
  const pool = usePool(t, { workers: 1 });
  const controller = new AbortController();
  const long = pool.search(controller.signal, { query: NEVER, budget: 0, client: "long" });
  let longEnded = false;
  const longReading = collect(long).then((result) => {
    longEnded = true;
    return result;
  });
  await pool.whenExecuting(noAbort());

  const short = await collect(pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "short" }));
  assert.deepEqual(short, { hits: [{ index: 101, distance: 0 }], error: undefined });
  assert.equal(longEnded, false, "the long search is still running when the short one has its answer");
  assert.equal(pool.stats().running, 1);

  const startedBefore = long.slicesStarted;
  const reason = new Error("enough");
  controller.abort(reason);
  assert.equal((await longReading).error, reason);
  assert.ok(startedBefore > 0);
  await pool.whenIdle();
});

test("searches running together take slices in turn, not first come first served", {
  timeout: 30_000,
}, async (t) => {
  const pool = usePool(t, { workers: 1, sliceSize: 64 });
  const long = pool.search(noAbort(), { query: NEVER, budget: 64 * 40, client: "long" });
  const longReading = collect(long);
  const short = pool.search(noAbort(), { query: NEVER, budget: 64 * 5, client: "short" });
  await collect(short);
  assert.equal(short.slicesStarted, 5);
  // Alternating slices: the long search is ahead only by its head start and the worker's queue (2 slices each),
  // far from its 40 slices (first come first served would have run all 40 first).
  assert.ok(
    long.slicesStarted <= short.slicesStarted + 4,
    `long search started ${long.slicesStarted} slices`,
  );
  await longReading;
  assert.equal(long.slicesStarted, 40);
});
