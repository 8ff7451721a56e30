import assert from "node:assert/strict";
import { test } from "node:test";
import { searchPlain } from "../../src/search/reference.ts";
import { collect, DOCTOR_RANGE, find, noAbort, usePool } from "./helpers.ts";

test("a consumer that does not read pauses its search; memory stays bounded; reading resumes it", {
  timeout: 60_000,
}, async (t) => {
  const workers = 2;
  const slicesPerWorker = 2;
  const sliceSize = 512;
  const maxBufferedHits = 16;
  const pool = usePool(t, { workers, slicesPerWorker, sliceSize, maxBufferedHits });
  const expected = searchPlain("doctor", 1, 3, 0, Number.MAX_SAFE_INTEGER);
  // The most hits one slice can add after the pause decision: those of the slices in flight then.
  let mostHitsInASlice = 0;
  for (let start = 0; start < 57873; start += sliceSize) {
    const inSlice = expected.filter((hit) => hit.index >= start && hit.index < start + sliceSize).length;
    mostHitsInASlice = Math.max(mostHitsInASlice, inSlice);
  }

  const run = pool.search(noAbort(), { query: DOCTOR_RANGE, budget: 0, client: "slow" });
  // Nobody reads: once the buffer is full no slice is dispatched, the in-flight ones finish, the pool idles.
  await pool.whenIdle();
  const buffered = run.buffered;
  const started = run.slicesStarted;
  assert.ok(buffered >= maxBufferedHits, `paused because the buffer is full (${buffered})`);
  assert.ok(
    buffered <= maxBufferedHits + workers * slicesPerWorker * mostHitsInASlice,
    `buffered ${buffered} hits, bound ${maxBufferedHits} + in-flight slices`,
  );
  assert.ok(started * sliceSize < 57873, "paused long before the end of the search");
  assert.equal(pool.stats().running, 1);

  // The pool keeps scheduling (a whole other search runs) without giving the paused search a slice.
  const other = await collect(pool.search(noAbort(), { query: find("doc", 0), budget: 0, client: "other" }));
  assert.deepEqual(other.hits, [{ index: 448, distance: 0 }]);
  assert.equal(run.slicesStarted, started);
  assert.equal(run.buffered, buffered);

  // Reading resumes it, and the answer is complete and in order.
  const { hits, error } = await collect(run);
  assert.equal(error, undefined);
  assert.deepEqual(hits, expected);
});
