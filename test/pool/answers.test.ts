import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { searchPlain } from "../../src/search/reference.ts";
import { collect, DOCTOR_RANGE, find, noAbort, usePool } from "./helpers.ts";

const UNBOUNDED = Number.MAX_SAFE_INTEGER;
const FINDS = [
  { target: "aa", ideal: 0, index: 101 },
  { target: "doc", ideal: 0, index: 448 },
  { target: "doct", ideal: 0, index: 69241 },
  { target: "grpc", ideal: 1, index: 28 },
  { target: "a", ideal: 0, index: 0 },
];

describe("answers do not depend on the number of workers", () => {
  const doctorExpected = searchPlain("doctor", 1, 3, 0, UNBOUNDED);

  test("the oracle agrees with the reference answers", () => {
    assert.equal(doctorExpected.length, 663);
    assert.deepEqual(doctorExpected.at(-1), { index: 57872, distance: 1 });
  });

  for (const workers of [1, 2, 4]) {
    // Small slices make later slices finish before earlier ones, so in-order commit is exercised.
    for (const sliceSize of [undefined, 97]) {
      test(`Find answers with ${workers} worker(s), slice size ${sliceSize ?? "tuned"}`, {
        timeout: 60_000,
      }, async (t) => {
        const pool = usePool(t, { workers, sliceSize });
        for (const { target, ideal, index } of FINDS) {
          const expected = searchPlain(target, ideal, -1, 0, UNBOUNDED);
          assert.deepEqual(
            expected.map((hit) => hit.index),
            [index],
            `oracle for ${target}`,
          );
          const run = pool.search(noAbort(), { query: find(target, ideal), budget: 0, client: "c" });
          const { hits, error } = await collect(run);
          assert.equal(error, undefined);
          assert.deepEqual(hits, expected, `${target},${ideal}`);
          assert.equal(run.scanned, index + 1, "scanned counts candidates up to and including the ideal hit");
        }
      });

      test(`FindRange doctor with ${workers} worker(s), slice size ${sliceSize ?? "tuned"}`, {
        timeout: 60_000,
      }, async (t) => {
        const pool = usePool(t, { workers, sliceSize });
        const run = pool.search(noAbort(), { query: DOCTOR_RANGE, budget: 0, client: "c" });
        const { hits, error } = await collect(run);
        assert.equal(error, undefined);
        assert.deepEqual(hits, doctorExpected);
        assert.equal(run.scanned, 57873);
      });
    }
  }

  // The default pacing yields (Linux); the others are the sleeping fallback and none at all.
  for (const [how, pacing] of [
    ["sleeping when a thread waits", { yieldCores: false }],
    ["never pausing", { yieldEveryMs: 0 }],
  ] as const) {
    test(`FindRange doctor with 2 workers ${how}`, { timeout: 60_000 }, async (t) => {
      const pool = usePool(t, { workers: 2, ...pacing });
      assert.notEqual(pool.pausing, "yield");
      const run = pool.search(noAbort(), { query: DOCTOR_RANGE, budget: 0, client: "c" });
      const { hits, error } = await collect(run);
      assert.equal(error, undefined);
      assert.deepEqual(hits, doctorExpected);
    });
  }
});
