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

/**
 * CPU affinity kept in a map: thread id → its CPUs. `unreadable` threads fail `get`; the CPU time of `running`
 * threads moves on at every read.
 */
function fakeAffinity(
  cpu: number,
  sets: Map<number, number[]>,
  { unreadable = new Set<number>(), running = new Set<number>() } = {},
): CpuAffinity {
  let clock = 0;
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
    cpuTimeNs: (tid) => (!sets.has(tid) ? -1 : running.has(tid) ? ++clock : 42),
  };
}

/** Worker records with each of `tids` inside the kernel for the search whose flag is at `stopIndex`. */
function recordsInside(stopIndex: number, tids: readonly number[]): Int32Array {
  const records = createWorkerRecords(tids.length);
  for (const [index, tid] of tids.entries()) {
    recordThreadId(records, index, tid);
    recordInside(records, index, stopIndex);
  }
  return records;
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

    assert.deepEqual(mover.moveHere(stopped), { moved: 2, leftRunning: 0 });
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
    assert.deepEqual(mover.moveHere(stopped), { moved: 0, leftRunning: 0 }, "nobody inside any more");
  });

  test("a thread whose CPUs cannot be read is left where it is (it could not be given them back)", () => {
    const records = recordsInside(stopFlagIndex(0), [101]);
    const sets = new Map([[101, [0, 1]]]);
    const mover = new WorkerMover(records, fakeAffinity(1, sets, { unreadable: new Set([101]) }));
    assert.deepEqual(mover.moveHere(stopFlagIndex(0)), { moved: 0, leftRunning: 0 });
    assert.deepEqual(sets.get(101), [0, 1]);
  });

  test("a thread running on its CPU is left there (moving it would wait for that CPU); one waiting is moved", () => {
    const stopped = stopFlagIndex(0);
    const records = recordsInside(stopped, [101, 102]);
    const sets = new Map([
      [101, [0, 1]],
      [102, [0, 1]],
    ]);
    const mover = new WorkerMover(records, fakeAffinity(0, sets, { running: new Set([101]) }));
    assert.deepEqual(mover.moveHere(stopped), { moved: 1, leftRunning: 1 });
    assert.deepEqual(Object.fromEntries(sets), { 101: [0, 1], 102: [0] });
    mover.restore();
    assert.deepEqual(Object.fromEntries(sets), { 101: [0, 1], 102: [0, 1] });
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

describe("a thread's CPU time through libc", {
  skip: process.platform !== "linux" && "Linux only",
}, () => {
  test("moves on while a thread spins, stands still while it sleeps; -1 for no such thread", async () => {
    assert.ok(affinity !== undefined);
    const parked = await parkedThread();
    const spinning = await parkedThread({ spin: true });
    try {
      const parkedAt = affinity.cpuTimeNs(parked.tid);
      const spinningAt = affinity.cpuTimeNs(spinning.tid);
      assert.ok(parkedAt > 0 && spinningAt > 0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(affinity.cpuTimeNs(parked.tid), parkedAt, "asleep: no CPU time");
      const spun = (affinity.cpuTimeNs(spinning.tid) - spinningAt) / 1e6;
      assert.ok(spun > 20, `spinning 200 ms used ${spun.toFixed(1)} ms of CPU by this clock`);
    } finally {
      await parked.end();
      await spinning.end();
    }
    assert.equal(affinity.cpuTimeNs(2 ** 22 + 1), -1, "above any pid_max: no such thread");
  });
});

describe("WorkerMover on real threads", {
  skip:
    (affinity === undefined || availableParallelism() < 2) && "needs thread CPU affinity (Linux) and 2 CPUs",
}, () => {
  test("a late thread that is running is left on its CPU; one asleep is moved", {
    timeout: 30_000,
  }, async () => {
    assert.ok(affinity !== undefined);
    const own = new Uint8Array(CPU_MASK_BYTES);
    assert.ok(affinity.get(process.pid, own));
    const [callerCpu, otherCpu] = cpusInMask(own);
    assert.ok(callerCpu !== undefined && otherCpu !== undefined, "this thread may run on two CPUs");
    const spinning = await parkedThread({ spin: true });
    const parked = await parkedThread();
    const stopped = stopFlagIndex(0);
    const records = recordsInside(stopped, [spinning.tid, parked.tid]);
    const parkedCpus = cpusAllowed(parked.tid);
    const mover = new WorkerMover(records, affinity);
    try {
      // The caller on one CPU, the spinning thread alone (as far as this process goes) on the other.
      assert.ok(affinity.set(process.pid, singleCpuMask(callerCpu)));
      assert.ok(affinity.set(spinning.tid, singleCpuMask(otherCpu)));
      // Another thread may take the spinner's CPU for a moment (V8's helpers, the kernel's), and a thread that is
      // not on its CPU is moved: a few tries, each given back, must find it running at least once.
      let leftRunning = false;
      for (let attempt = 0; attempt < 5 && !leftRunning; attempt++) {
        const late = mover.moveHere(stopped);
        leftRunning = late.leftRunning === 1 && cpusAllowed(spinning.tid).join() === String(otherCpu);
        assert.equal(late.moved + late.leftRunning, 2, "both late threads seen");
        assert.deepEqual(cpusAllowed(parked.tid), [callerCpu], "the sleeping one is moved every time");
        mover.restore();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(leftRunning, "the running thread was moved in every try");
      assert.deepEqual(cpusAllowed(parked.tid), parkedCpus, "given back");
    } finally {
      affinity.set(process.pid, own);
      await spinning.end();
      await parked.end();
    }
  });
});

/**
 * A worker thread of this process, parked (or with `spin`, spinning) until `end()` (fixtures/parked-thread.ts),
 * and its thread id.
 */
async function parkedThread({ spin = false } = {}): Promise<{ tid: number; end(): Promise<void> }> {
  const release = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL("./fixtures/parked-thread.ts", import.meta.url), {
    workerData: { release, spin },
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
