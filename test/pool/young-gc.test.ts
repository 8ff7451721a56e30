import assert from "node:assert/strict";
import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runInNewContext } from "node:vm";
import { SCAVENGE_AT, scavengeIfFilled, youngGenerationFill } from "../../src/pool/young-gc.ts";
import { collect, find, noAbort, usePool } from "./helpers.ts";

/** Makes short-lived garbage until the young generation is at least `fill` full (V8 may scavenge on the way). */
function fillYoungGeneration(fill: number): void {
  let last: number[] = [];
  for (let i = 0; i < 1_000_000 && youngGenerationFill() < fill; i++) last = new Array(256).fill(i);
  assert.ok(
    youngGenerationFill() >= fill,
    `young generation filled to ${fill} (made ${last.length}-slot arrays)`,
  );
}

/** The forced minor GCs (what V8's gc() runs) that happen while `body` runs. */
async function forcedScavengesDuring(body: () => void | Promise<void>): Promise<number> {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ["gc"] });
  try {
    await body();
    await sleep(100); // GC entries reach observers a few turns of the event loop later
  } finally {
    observer.disconnect();
  }
  return entries.filter((entry) => {
    const { detail } = entry as PerformanceEntry & { detail: { kind: number; flags: number } };
    return (
      detail.kind === constants.NODE_PERFORMANCE_GC_MINOR &&
      (detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0
    );
  }).length;
}

describe("scavenging as a search starts", () => {
  test("a young generation past the threshold is collected at once; it is then nearly empty", async () => {
    let collected = false;
    let fillBefore = 0;
    const forced = await forcedScavengesDuring(() => {
      fillYoungGeneration(SCAVENGE_AT + 0.1);
      fillBefore = youngGenerationFill();
      collected = scavengeIfFilled();
    });
    assert.equal(collected, true);
    assert.equal(forced, 1);
    assert.ok(
      youngGenerationFill() < fillBefore / 2,
      `fill ${youngGenerationFill()} after, ${fillBefore} before`,
    );
  });

  test("a young generation under the threshold is left alone", async () => {
    scavengeIfFilled(0); // starts from a collected young generation
    let collected = true;
    const forced = await forcedScavengesDuring(() => {
      collected = scavengeIfFilled();
    });
    assert.equal(collected, false);
    assert.equal(forced, 0);
  });

  test("V8's gc function stays private: no global gc here or in contexts made afterwards", () => {
    scavengeIfFilled(0);
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
    assert.equal(runInNewContext("typeof gc"), "undefined");
  });

  test("the pool scavenges before a search whose start finds the young generation well filled", async (t) => {
    const pool = usePool(t, { workers: 1 });
    scavengeIfFilled(0);
    const quiet = await collect(pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" }));
    assert.equal(quiet.error, undefined);
    assert.equal(pool.stats().scavenges, 0, "a nearly empty young generation is not collected");

    const forced = await forcedScavengesDuring(async () => {
      fillYoungGeneration(SCAVENGE_AT + 0.1);
      const run = pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" });
      assert.equal(pool.stats().scavenges, 1, "collected as the search started, before it returned");
      assert.equal((await collect(run)).error, undefined);
    });
    assert.equal(forced, 1);
  });
});
