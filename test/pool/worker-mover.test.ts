import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import {
  CPU_MASK_BYTES,
  type CpuAffinity,
  currentThreadId,
  loadCpuAffinity,
  singleCpuMask,
} from "../../src/pool/cpu-affinity.ts";
import {
  createWorkerRecords,
  recordInside,
  recordOutside,
  recordThreadId,
  stopFlagIndex,
} from "../../src/pool/shared-state.ts";
import { WorkerMover } from "../../src/pool/worker-mover.ts";
import { cpusAllowed, cpusInMask, maskOf } from "../helpers/cpus-allowed.ts";

/** CPU affinity kept in a map: thread id → its CPUs; `unreadable` threads fail `get`. */
function fakeAffinity(cpu: number, sets: Map<number, number[]>, unreadable = new Set<number>()): CpuAffinity {
  return {
    currentCpu: () => cpu,
    get(tid, mask) {
      const cpus = sets.get(tid);
      if (cpus === undefined || unreadable.has(tid)) return false;
      maskOf(cpus, mask);
      return true;
    },
    set(tid, mask) {
      if (!sets.has(tid)) return false;
      sets.set(tid, cpusInMask(mask));
      return true;
    },
  };
}

describe("WorkerMover", () => {
  test("moves exactly the recorded threads inside that search to the caller's CPU, and gives each its own back", () => {
    const records = createWorkerRecords(5);
    const stopped = stopFlagIndex(0);
    recordThreadId(records, 0, 101);
    recordInside(records, 0, stopped);
    recordThreadId(records, 1, 102);
    recordInside(records, 1, stopFlagIndex(1)); // another search
    recordInside(records, 2, stopped); // thread id not known
    recordThreadId(records, 3, 104); // outside the kernel
    recordThreadId(records, 4, 105);
    recordInside(records, 4, stopped);
    const sets = new Map([
      [101, [0, 1, 2, 3]],
      [102, [0, 1, 2, 3]],
      [104, [0, 1]],
      [105, [2, 3]],
    ]);
    const mover = new WorkerMover(records, fakeAffinity(3, sets));

    assert.equal(mover.moveHere(stopped), 2);
    assert.deepEqual(Object.fromEntries(sets), { 101: [3], 102: [0, 1, 2, 3], 104: [0, 1], 105: [3] });
    mover.restore();
    assert.deepEqual(Object.fromEntries(sets), {
      101: [0, 1, 2, 3],
      102: [0, 1, 2, 3],
      104: [0, 1],
      105: [2, 3],
    });
    mover.restore();
    assert.equal(sets.get(101)?.length, 4, "restoring twice changes nothing");

    recordOutside(records, 0);
    recordOutside(records, 4);
    assert.equal(mover.moveHere(stopped), 0, "nobody inside any more");
  });

  test("a thread whose CPUs cannot be read is left where it is (it could not be given them back)", () => {
    const records = createWorkerRecords(1);
    recordThreadId(records, 0, 101);
    recordInside(records, 0, stopFlagIndex(0));
    const sets = new Map([[101, [0, 1]]]);
    const mover = new WorkerMover(records, fakeAffinity(1, sets, new Set([101])));
    assert.equal(mover.moveHere(stopFlagIndex(0)), 0);
    assert.deepEqual(sets.get(101), [0, 1]);
  });
});

const affinity = loadCpuAffinity();
describe("thread CPU affinity through libc", {
  skip: process.platform !== "linux" && "Linux only",
}, () => {
  test("loads on Linux", () => {
    assert.ok(affinity !== undefined, "koffi and libc's sched_*affinity calls load");
    const cpu = affinity.currentCpu();
    assert.ok(Number.isInteger(cpu) && cpu >= 0 && cpu < availableParallelism() * 64, `current CPU ${cpu}`);
  });

  test("thread ids: the main thread's is the pid, a worker's is its own", async () => {
    assert.equal(currentThreadId(), process.pid);
    const thread = await parkedThread();
    try {
      assert.ok(thread.tid > 0 && thread.tid !== process.pid);
      assert.ok(existsSync(`/proc/self/task/${thread.tid}`));
    } finally {
      await thread.end();
    }
  });

  test("reads and sets a thread's CPUs as /proc reports them, and sets them back", {
    skip: availableParallelism() < 2 && "needs 2 CPUs",
  }, async () => {
    assert.ok(affinity !== undefined);
    const thread = await parkedThread();
    const { tid } = thread;
    try {
      const mask = new Uint8Array(CPU_MASK_BYTES);
      assert.ok(affinity.get(tid, mask));
      const own = cpusInMask(mask);
      assert.deepEqual(own, cpusAllowed(tid));
      const only = own.at(-1)!;
      assert.ok(affinity.set(tid, singleCpuMask(only)));
      assert.deepEqual(cpusAllowed(tid), [only]);
      assert.ok(affinity.set(tid, mask));
      assert.deepEqual(cpusAllowed(tid), own);
    } finally {
      await thread.end();
    }
  });
});

/** A worker thread of this process, parked until `end()` (fixtures/parked-thread.ts), and its thread id. */
async function parkedThread(): Promise<{ tid: number; end(): Promise<void> }> {
  const release = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL("./fixtures/parked-thread.ts", import.meta.url), {
    workerData: { release },
  });
  const [tid] = (await once(worker, "message")) as [number];
  return {
    tid,
    async end() {
      Atomics.store(release, 0, 1);
      Atomics.notify(release, 0);
      await worker.terminate();
    },
  };
}
