import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { SearchPool } from "../../src/pool/pool.ts";
import type { SliceReply, SliceTask, WorkerInit } from "../../src/pool/protocol.ts";
import {
  createSharedState,
  enterKernel,
  executingCount,
  raiseStop,
  stopFlagIndex,
} from "../../src/pool/shared-state.ts";
import { BACKOFF_MS, StopHandoff } from "../../src/pool/stop-handoff.ts";
import { collect, DOCTOR_RANGE, ENDLESS_SLICE, find, NEVER, noAbort, usePool } from "./helpers.ts";

/** A limit on the event loop's sleep no healthy machine reaches, so that what the tests see is the handoff. */
const PATIENT_MS = 10_000;

/** Shared state with stop slot 0 taken by a search that one (pretend) worker is scanning. */
function slotWithOneWorkerInside(): Int32Array {
  const state = createSharedState(1);
  enterKernel(state, stopFlagIndex(0));
  raiseStop(state, 0);
  return state;
}

describe("the event loop's sleep after a cancel (stop handoff)", () => {
  test("cancelled: abort() returns with the search's workers already out of the kernel", {
    timeout: 30_000,
  }, async (t) => {
    const pool = usePool(t, { workers: 2, sliceSize: ENDLESS_SLICE, stopWaitMs: PATIENT_MS });
    const controller = new AbortController();
    const run = pool.search(controller.signal, { query: NEVER, budget: 0, client: "c" });
    const reading = collect(run);
    await pool.whenExecuting(noAbort());
    while (pool.executing() < 2) await new Promise((resolve) => setImmediate(resolve));

    controller.abort(new Error("cancelled"));
    // Synchronously after abort(): the listener raised the flag and slept until both slices had left.
    assert.equal(pool.executing(), 0);
    assert.deepEqual(pool.stats().stopWaits, { waits: 1, timedOut: 0, skipped: 0 });
    assert.equal((await reading).error instanceof Error, true);
  });

  test("stopped by the consumer (return()): the same sleep", { timeout: 30_000 }, async (t) => {
    const pool = usePool(t, { workers: 2, sliceSize: ENDLESS_SLICE, stopWaitMs: PATIENT_MS });
    const run = pool.search(noAbort(), { query: NEVER, budget: 0, client: "c" });
    await pool.whenExecuting(noAbort());
    const returning = run[Symbol.asyncIterator]().return?.();
    assert.equal(pool.executing(), 0);
    assert.equal(pool.stats().stopWaits.waits, 1);
    await returning;
  });

  test("a search that ends with its answer or its budget does not wait: the result goes out first", {
    timeout: 30_000,
  }, async (t) => {
    // Small slices, so that later slices are still in flight when the answer (index 101) or the budget comes.
    const pool = usePool(t, { workers: 2, sliceSize: 16, stopWaitMs: PATIENT_MS });
    const answered = await collect(pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" }));
    assert.deepEqual(answered.hits, [{ index: 101, distance: 0 }]);
    const range = await collect(pool.search(noAbort(), { query: DOCTOR_RANGE, budget: 2_000, client: "c" }));
    assert.ok(range.error instanceof Error, "the budget ends the search");
    await pool.whenIdle();
    assert.deepEqual(pool.stats().stopWaits, { waits: 0, timedOut: 0, skipped: 0 });
  });

  test("stopWaitMs 0: a cancel never makes the event loop wait", { timeout: 30_000 }, async (t) => {
    const pool = usePool(t, { workers: 2, sliceSize: ENDLESS_SLICE, stopWaitMs: 0 });
    const controller = new AbortController();
    const reading = collect(pool.search(controller.signal, { query: NEVER, budget: 0, client: "c" }));
    await pool.whenExecuting(noAbort());
    controller.abort(new Error("cancelled"));
    await reading;
    await pool.whenIdle();
    assert.deepEqual(pool.stats().stopWaits, { waits: 0, timedOut: 0, skipped: 0 });
  });

  test("stopWaitMs must be a number ≥ 0", () => {
    for (const stopWaitMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => new SearchPool({ maxQueued: 1, maxPerClient: 0, stopWaitMs }),
        new RangeError(`stopWaitMs must be a number ≥ 0, got ${stopWaitMs}`),
      );
    }
  });

  test("woken by the worker's leaving, not by the time limit", { timeout: 30_000 }, async () => {
    const state = slotWithOneWorkerInside();
    const init = { state, afterMs: 50 };
    const worker = new Worker(new URL("./fixtures/leave-kernel-later.ts", import.meta.url), {
      workerData: init,
    });
    try {
      const handoff = new StopHandoff(state, PATIENT_MS);
      const began = performance.now();
      handoff.afterStop(0);
      const slept = performance.now() - began;
      assert.equal(executingCount(state), 0, "it returned because the worker left");
      assert.ok(
        slept >= 40 && slept < PATIENT_MS / 2,
        `slept ${slept} ms for a worker that left after 50 ms`,
      );
      assert.deepEqual(handoff.stats, { waits: 1, timedOut: 0, skipped: 0 });
    } finally {
      await worker.terminate();
    }
  });

  test("a wait that runs out stops the waiting for BACKOFF_MS", () => {
    // A worker that never leaves: every wait runs out.
    const state = slotWithOneWorkerInside();
    let now = 0;
    const handoff = new StopHandoff(state, 5, () => now);
    const began = performance.now();
    handoff.afterStop(0);
    assert.ok(performance.now() - began >= 4, "the first stop waits up to its limit");
    assert.deepEqual(handoff.stats, { waits: 1, timedOut: 1, skipped: 0 });

    now += BACKOFF_MS - 1;
    handoff.afterStop(0);
    assert.deepEqual(handoff.stats, { waits: 1, timedOut: 1, skipped: 1 }, "within the back-off: no wait");

    now += 1;
    handoff.afterStop(0);
    assert.deepEqual(handoff.stats, { waits: 2, timedOut: 2, skipped: 1 }, "after it: waits again");
  });
});

describe("worker", () => {
  test("a slice whose search stopped before the worker came to it never enters the kernel", {
    timeout: 30_000,
  }, async () => {
    const state = createSharedState(2);
    raiseStop(state, 1);
    const init: WorkerInit = { state, yieldEveryMs: 0, runQueue: undefined };
    const worker = new Worker(new URL("../../src/pool/worker.ts", import.meta.url), { workerData: init });
    try {
      const reply = async (task: SliceTask): Promise<SliceReply> => {
        worker.postMessage(task);
        const [message] = (await once(worker, "message")) as [SliceReply];
        return message;
      };
      const base = { search: 1, query: find("aa", 0), start: 0, end: 1000 };
      // Stopped: answered without a time of leaving the kernel, nothing scanned.
      assert.deepEqual(await reply({ ...base, task: 1, stopIndex: stopFlagIndex(1) }), {
        task: 1,
        hits: [],
        scanned: 0,
        stopped: true,
        elapsedMs: 0,
        pauses: 0,
      });
      // The same slice of a running search does enter it, and finds the answer.
      const ran = await reply({ ...base, task: 2, stopIndex: stopFlagIndex(0) });
      assert.ok("leftAt" in ran && typeof ran.leftAt === "number");
      assert.deepEqual("hits" in ran && ran.hits, [101, 0]);
      assert.equal(executingCount(state), 0);
    } finally {
      await worker.terminate();
    }
  });
});
