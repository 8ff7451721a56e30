import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { createLoadCells } from "../../src/pool/core-yield.ts";
import { loadCpuAffinity } from "../../src/pool/cpu-affinity.ts";
import { SearchPool } from "../../src/pool/pool.ts";
import type { SliceReply, SliceTask, WorkerInit } from "../../src/pool/protocol.ts";
import {
  createSharedState,
  createWorkerRecords,
  enterKernel,
  executingCount,
  raiseStop,
  stopFlagIndex,
  threadsInside,
  waitUntilExecuting,
} from "../../src/pool/shared-state.ts";
import {
  BACKOFF_MS,
  type LateWorkerMover,
  MOVE_AFTER_MS,
  StopHandoff,
  type StopHandoffStats,
} from "../../src/pool/stop-handoff.ts";
import { WorkerMover } from "../../src/pool/worker-mover.ts";
import { cpusAllowed } from "../helpers/cpus-allowed.ts";
import { collect, DOCTOR_RANGE, ENDLESS_SLICE, find, NEVER, noAbort, usePool } from "./helpers.ts";

/** A limit on the event loop's sleep no healthy machine reaches, so that what the tests see is the handoff. */
const PATIENT_MS = 10_000;

/** The pool's wait counts, without the late workers': whether a worker was late is the machine's doing. */
function waitCounts(pool: SearchPool): Omit<StopHandoffStats, "moved" | "leftRunning"> {
  const { moved: _moved, leftRunning: _leftRunning, ...counts } = pool.stats().stopWaits;
  return counts;
}

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
    assert.deepEqual(waitCounts(pool), { waits: 1, timedOut: 0, skipped: 0 });
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
    assert.deepEqual(pool.stats().stopWaits, { waits: 0, timedOut: 0, skipped: 0, moved: 0, leftRunning: 0 });
  });

  test("stopWaitMs 0: a cancel never makes the event loop wait", { timeout: 30_000 }, async (t) => {
    const pool = usePool(t, { workers: 2, sliceSize: ENDLESS_SLICE, stopWaitMs: 0 });
    const controller = new AbortController();
    const reading = collect(pool.search(controller.signal, { query: NEVER, budget: 0, client: "c" }));
    await pool.whenExecuting(noAbort());
    controller.abort(new Error("cancelled"));
    await reading;
    await pool.whenIdle();
    assert.deepEqual(pool.stats().stopWaits, { waits: 0, timedOut: 0, skipped: 0, moved: 0, leftRunning: 0 });
    assert.equal(pool.movesLateWorkers, false, "nothing to move workers during");
  });

  test("late workers are moved by default where threads can be (Linux), and not with moveLateWorkers: false", (t) => {
    assert.equal(usePool(t, { stopWaitMs: 1 }).movesLateWorkers, process.platform === "linux");
    assert.equal(usePool(t, { stopWaitMs: 1, moveLateWorkers: false }).movesLateWorkers, false);
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
      assert.deepEqual(handoff.stats, { waits: 1, timedOut: 0, skipped: 0, moved: 0, leftRunning: 0 });
    } finally {
      await worker.terminate();
    }
  });

  test("a wait that runs out stops the waiting for BACKOFF_MS", () => {
    // A worker that never leaves: every wait runs out.
    const state = slotWithOneWorkerInside();
    let now = 0;
    const handoff = new StopHandoff(state, 5, undefined, () => now);
    const began = performance.now();
    handoff.afterStop(0);
    assert.ok(performance.now() - began >= 4, "the first stop waits up to its limit");
    assert.deepEqual(handoff.stats, { waits: 1, timedOut: 1, skipped: 0, moved: 0, leftRunning: 0 });

    now += BACKOFF_MS - 1;
    handoff.afterStop(0);
    assert.deepEqual(
      handoff.stats,
      { waits: 1, timedOut: 1, skipped: 1, moved: 0, leftRunning: 0 },
      "within the back-off: no wait",
    );

    now += 1;
    handoff.afterStop(0);
    assert.deepEqual(
      handoff.stats,
      { waits: 2, timedOut: 2, skipped: 1, moved: 0, leftRunning: 0 },
      "after it: waits again",
    );
  });
});

describe("moving late workers onto the event loop's CPU", () => {
  /** A mover that records what the handoff asks of it. */
  function recordingMover(): { mover: LateWorkerMover; calls: string[] } {
    const calls: string[] = [];
    const mover: LateWorkerMover = {
      moveHere: (stopIndex: number) => {
        calls.push(`move ${stopIndex}`);
        return { moved: 1, leftRunning: 1 };
      },
      restore: () => {
        calls.push("restore");
      },
    };
    return { mover, calls };
  }

  test("only a worker still inside after MOVE_AFTER_MS is moved, and given back when the wait ends", () => {
    const { mover, calls } = recordingMover();
    const handoff = new StopHandoff(slotWithOneWorkerInside(), 5, mover, () => 0);
    const began = performance.now();
    handoff.afterStop(0);
    assert.ok(performance.now() - began >= 4, "it still waits up to its limit");
    assert.deepEqual(calls, [`move ${stopFlagIndex(0)}`, "restore"]);
    assert.deepEqual(handoff.stats, { waits: 1, timedOut: 1, skipped: 0, moved: 1, leftRunning: 1 });

    // Nobody inside: the wait ends at once, before anyone could be late.
    const quick = recordingMover();
    const idle = createSharedState(1);
    raiseStop(idle, 0);
    new StopHandoff(idle, 5, quick.mover).afterStop(0);
    assert.deepEqual(quick.calls, []);
  });

  test("a wait no longer than MOVE_AFTER_MS never moves anyone", () => {
    const { mover, calls } = recordingMover();
    new StopHandoff(slotWithOneWorkerInside(), MOVE_AFTER_MS, mover, () => 0).afterStop(0);
    assert.deepEqual(calls, []);
  });

  const affinity = loadCpuAffinity();
  const noMoving =
    affinity === undefined
      ? "needs thread CPU affinity (Linux)"
      : availableParallelism() < 2 && "needs 2 CPUs to see a thread moved";
  test("a real late thread runs on the event loop's CPU alone until it leaves, then on its own CPUs again", {
    skip: noMoving,
    timeout: 30_000,
  }, async () => {
    assert.ok(affinity !== undefined);
    const state = slotWithOneWorkerInside();
    const records = createWorkerRecords(1);
    const release = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL("./fixtures/late-worker.ts", import.meta.url), {
      workerData: { state, records, afterMs: 50, release },
    });
    try {
      const [ready] = (await once(worker, "message")) as [{ tid: number; before: number[] }];
      assert.ok(ready.before.length >= 2, `it may run on ${ready.before}`);
      const late = once(worker, "message");
      const handoff = new StopHandoff(state, PATIENT_MS, new WorkerMover(records, affinity));
      handoff.afterStop(0);
      assert.equal(executingCount(state), 0, "it returned because the thread left");
      assert.equal(handoff.stats.moved, 1);
      const [{ late: cpusWhenLeaving }] = (await late) as [{ late: number[] }];
      assert.equal(cpusWhenLeaving.length, 1, `while late it could run only where the event loop was`);
      assert.ok(ready.before.includes(cpusWhenLeaving[0]!));
      assert.deepEqual(cpusAllowed(ready.tid), ready.before, "given its own CPUs back");
    } finally {
      Atomics.store(release, 0, 1);
      Atomics.notify(release, 0);
      await worker.terminate();
    }
  });
});

describe("worker", () => {
  test("a slice whose search stopped before the worker came to it never enters the kernel", {
    timeout: 30_000,
  }, async () => {
    const state = createSharedState(2);
    raiseStop(state, 1);
    const records = createWorkerRecords(1);
    const init: WorkerInit = {
      state,
      records,
      workerIndex: 0,
      yieldEveryMs: 0,
      yieldsCores: false,
      loadCells: createLoadCells(2),
      runQueue: undefined,
    };
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

  test("records its thread id, and the search it scans while inside the kernel (for moving it)", {
    skip: process.platform !== "linux" && "thread ids come from /proc (Linux)",
    timeout: 30_000,
  }, async () => {
    const state = createSharedState(1);
    const records = createWorkerRecords(2);
    const init: WorkerInit = {
      state,
      records,
      workerIndex: 1,
      yieldEveryMs: 0,
      yieldsCores: false,
      loadCells: createLoadCells(2),
      runQueue: undefined,
    };
    const worker = new Worker(new URL("../../src/pool/worker.ts", import.meta.url), { workerData: init });
    try {
      const stopIndex = stopFlagIndex(0);
      worker.postMessage({ task: 1, search: 1, query: NEVER, start: 0, end: ENDLESS_SLICE, stopIndex });
      await waitUntilExecuting(noAbort(), state);
      const [tid] = threadsInside(records, stopIndex, []);
      assert.ok(tid !== undefined && tid !== process.pid, `the worker's own thread id, got ${tid}`);
      assert.ok(existsSync(`/proc/self/task/${tid}`));
      assert.deepEqual(threadsInside(records, stopFlagIndex(1), []), [], "no other search");
      raiseStop(state, 0);
      await once(worker, "message");
      assert.deepEqual(threadsInside(records, stopIndex, []), [], "out of the kernel: no longer recorded");
    } finally {
      await worker.terminate();
    }
  });
});
