import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import {
  createLoadCells,
  loadCoreYield,
  loadUnlessClosing,
  resetLoadCell,
  untilLoadSettled,
} from "../../src/pool/core-yield.ts";
import { loadCpuAffinity } from "../../src/pool/cpu-affinity.ts";
import { waitUntil } from "../helpers/wait.ts";

const SPIN_MS = 300;

/**
 * Two spinning threads at the same priority pinned to one CPU, started together: the share of its time each was
 * kept off that CPU. `yieldEveryMs` of the first; the second never yields.
 */
async function shareOneCpu(yieldEveryMs: number): Promise<[number, number]> {
  const start = new Int32Array(new SharedArrayBuffer(8));
  const url = new URL("./fixtures/shared-cpu-spinner.ts", import.meta.url);
  const spinners = [yieldEveryMs, 0].map(
    (every) => new Worker(url, { workerData: { cpu: 0, spinMs: SPIN_MS, yieldEveryMs: every, start } }),
  );
  try {
    // A spinner that cannot pin itself throws, and `once` rejects with its error.
    const shares = spinners.map(async (spinner) => {
      const [result] = (await once(spinner, "message")) as [{ offCpuShare: number }];
      return result.offCpuShare;
    });
    await waitUntil("both spinners are pinned", () => Atomics.load(start, 1) === spinners.length);
    Atomics.store(start, 0, 1);
    Atomics.notify(start, 0);
    const [first, second] = await Promise.all(shares);
    return [first!, second!];
  } finally {
    await Promise.all(spinners.map((spinner) => spinner.terminate()));
  }
}

describe("core yield (sched_yield)", () => {
  test("a thread that yields gives its CPU to one waiting for it, and keeps it otherwise", {
    skip: process.platform !== "linux" && "Linux only",
    timeout: 30_000,
  }, async () => {
    assert.ok(
      loadCoreYield() !== undefined && loadCpuAffinity() !== undefined,
      "koffi and libc load on Linux",
    );
    // Neither yields: the scheduler shares the CPU between the two in slices of a few ms, and each is kept off it
    // about half of the time. This shows the measure can see it.
    const [, neverYielded] = await shareOneCpu(0);
    assert.ok(neverYielded > 0.25, `a thread that shares its CPU was kept off only ${neverYielded}`);
    // The first yields every 0.05 ms: the other runs whenever it wants to, the yielder in what is left.
    const [yielder, other] = await shareOneCpu(0.05);
    assert.ok(other < 0.25, `the thread yielded to was still kept off its CPU for ${other} of the time`);
    assert.ok(yielder > 0.5, `the yielding thread was kept off for only ${yielder}`);
  });
});

describe("a worker's load of koffi and the pool's closing (a thread terminated mid-load kills the process)", () => {
  test("a worker the pool began closing before its load never loads", async () => {
    const cells = createLoadCells(2);
    await untilLoadSettled(cells, 1, 1_000);
    let loads = 0;
    const load = () => {
      loads++;
      return "loaded";
    };
    assert.equal(loadUnlessClosing(cells, 1, load), undefined);
    assert.equal(loads, 0);
    // Its neighbour, and the same index once the pool spawns a new worker there, load as usual.
    assert.equal(loadUnlessClosing(cells, 0, load), "loaded");
    resetLoadCell(cells, 1);
    assert.equal(loadUnlessClosing(cells, 1, load), "loaded");
    assert.equal(loads, 2);
  });

  test("closing waits for a load in progress to end", { timeout: 30_000 }, async () => {
    const cells = createLoadCells(1);
    const ended = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL("./fixtures/slow-load.ts", import.meta.url), {
      workerData: { cells, loadMs: 200, ended },
    });
    try {
      const answer = once(worker, "message");
      // Until the worker has begun its load.
      await waitUntil("the worker has begun its load", () => Atomics.load(cells, 0) !== 0);
      await untilLoadSettled(cells, 0, 10_000);
      assert.equal(Atomics.load(ended, 0), 1, "closing went on before the load ended");
      assert.deepEqual(await answer, ["loaded"]);
    } finally {
      await worker.terminate();
    }
  });

  test("closing does not wait past its bound for a load that never ends", async () => {
    const cells = createLoadCells(1);
    // A load that began and will not end here (as if its thread hung).
    Atomics.store(cells, 0, 1);
    const began = performance.now();
    await untilLoadSettled(cells, 0, 50);
    assert.ok(performance.now() - began >= 40);
  });
});
