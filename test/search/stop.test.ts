import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import {
  createKernel,
  type KernelEngine,
  type SliceResult,
  STOP_CHECK_INTERVAL,
} from "../../src/search/kernel.ts";

const ENGINES: KernelEngine[] = ["wasm", "js"];
const STOP = 0;
const STARTED = 1;

for (const engine of ENGINES) {
  describe(`stop flag (${engine} engine)`, () => {
    test("a slice started with the flag set scans nothing", () => {
      const flags = new Int32Array(new SharedArrayBuffer(8));
      Atomics.store(flags, 1, 1);
      const kernel = createKernel({ target: "doctor", ideal: 0, interesting: 3 }, engine);
      assert.deepEqual(kernel.scanSlice(0, 1e9, flags, 1), {
        hits: [],
        scanned: 0,
        stopped: true,
        pauses: 0,
      });
      // The flag of another slot does not stop it.
      assert.equal(kernel.scanSlice(0, 1000, flags, 0).stopped, false);
    });

    test("a flag raised mid-scan stops it within one run of STOP_CHECK_INTERVAL candidates", () => {
      const flags = new Int32Array(new SharedArrayBuffer(8));
      const kernel = createKernel({ target: "doctor", ideal: 0, interesting: 0 }, engine);
      // The pacing's question comes between runs (here before every run): raise the flag at the third.
      let asked = 0;
      const raiseAtThird = {
        everyMs: 1e-6,
        shouldPause: () => {
          if (++asked === 3) Atomics.store(flags, 1, 1);
          return false;
        },
        pause: () => {},
      };
      const result = kernel.scanSlice(1_000_000, 1e12, flags, 1, raiseAtThird);
      assert.equal(result.stopped, true);
      // At most two runs before the flag went up, and the one in hand when it did.
      assert.ok(result.scanned <= 3 * STOP_CHECK_INTERVAL, `scanned ${result.scanned}`);
      assert.ok(result.scanned > 0);
    });

    test("a flag set from another thread stops a scan that would otherwise run for days", async () => {
      const flags = new Int32Array(new SharedArrayBuffer(8));
      const worker = new Worker(new URL("./fixtures/scan-until-stopped.ts", import.meta.url), {
        workerData: { flags, engine },
      });
      try {
        const started = Atomics.waitAsync(flags, STARTED, 0);
        if (started.async) await started.value;
        const result = once(worker, "message");
        const stoppedAt = performance.now();
        Atomics.store(flags, STOP, 1);
        const [slice] = (await result) as [SliceResult];
        assert.equal(slice.stopped, true);
        assert.deepEqual(slice.hits, []);
        assert.ok(slice.scanned < 2 ** 50);
        // Generous sanity bound only: the kernel reads the flag every few hundred candidates.
        assert.ok(performance.now() - stoppedAt < 2000);
      } finally {
        await worker.terminate();
      }
    });
  });
}
