/**
 * Measures the pool's scheduling overhead: the same candidates scanned (a query that never hits) by one pool
 * worker in tuned slices, against one bare worker thread making the same kernel calls back to back (same slice
 * size, no messages, no main thread).
 * Prints both rates, the ratio, and the share of the worker's time spent inside the kernel.
 * Run: node test/pool/measure-overhead.ts [candidates] [slicesPerWorker] (not part of `npm test`).
 */
import { BroadcastChannel, Worker } from "node:worker_threads";
import { SearchPool } from "../../src/pool/pool.ts";
import { collect, NEVER, noAbort } from "./helpers.ts";

const candidates = Number(process.argv[2] ?? 20_000_000);
const slicesPerWorker = Number(process.argv[3] ?? 2);

const bareSource = `
  const { parentPort, workerData } = await import("node:worker_threads");
  const { createKernel } = await import(workerData.kernel);
  const kernel = createKernel(workerData.query);
  const stop = new Int32Array(new SharedArrayBuffer(4));
  kernel.scanSlice(0, 200000, stop, 0); // warm-up, as the pool's warm-up search does
  const began = performance.now();
  const end = 200000 + workerData.candidates;
  for (let start = 200000; start < end; start += workerData.sliceSize) {
    kernel.scanSlice(start, Math.min(end, start + workerData.sliceSize), stop, 0);
  }
  parentPort.postMessage({ ms: performance.now() - began });
`;

/** The same kernel calls in one thread with no pool around them: slices of the size the pool tuned itself to. */
async function bare(sliceSize: number): Promise<number> {
  const worker = new Worker(bareSource, {
    eval: true,
    workerData: {
      kernel: new URL("../../src/search/kernel.ts", import.meta.url).href,
      query: NEVER,
      candidates,
      sliceSize,
    },
  });
  const { ms } = await new Promise<{ ms: number }>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  await worker.terminate();
  return ms;
}

/** The last timing the worker broadcast: kernel time and span since its first slice, in ms. */
let timing = { kernelMs: 0, spanMs: 0 };
const timingChannel = new BroadcastChannel("cancelkit-pool-timing");
timingChannel.onmessage = (event) => {
  timing = (event as { data: typeof timing }).data;
};
timingChannel.unref();

async function pooled(): Promise<{ ms: number; slices: number; sliceSize: number; inKernel: number }> {
  const pool = new SearchPool({
    workers: 1,
    slicesPerWorker,
    maxQueued: 1,
    maxPerClient: 0,
    workerUrl: new URL("./fixtures/timed-worker.ts", import.meta.url),
  });
  try {
    await collect(pool.search(noAbort(), { query: NEVER, budget: 200_000, client: "warm-up" }));
    const slicesBefore = pool.stats().slicesStarted;
    await new Promise((resolve) => setImmediate(resolve)); // let the warm-up's last broadcast arrive
    const before = timing;
    const began = performance.now();
    const { error } = await collect(
      pool.search(noAbort(), { query: NEVER, budget: candidates, client: "m" }),
    );
    const ms = performance.now() - began;
    if (error === undefined) throw new Error("expected the budget to end the search");
    await new Promise((resolve) => setTimeout(resolve, 50)); // the worker broadcasts after its last reply
    const inKernel = (timing.kernelMs - before.kernelMs) / (timing.spanMs - before.spanMs);
    const slices = pool.stats().slicesStarted - slicesBefore;
    return { ms, slices, sliceSize: Math.round(candidates / slices), inKernel };
  } finally {
    await pool.close();
  }
}

const rounds: string[] = [];
for (let round = 0; round < 3; round++) {
  const pool = await pooled();
  const bareMs = await bare(pool.sliceSize);
  rounds.push(
    `round ${round}: bare (slices of ${pool.sliceSize}) ${bareMs.toFixed(0)} ms (${((candidates / bareMs) * 1e3).toExponential(2)}/s), ` +
      `pool ${pool.ms.toFixed(0)} ms in ${pool.slices} slices (${((pool.ms / pool.slices) * 1e3).toFixed(0)} µs each), ` +
      `pool/bare = ${(pool.ms / bareMs).toFixed(4)}, worker time in the kernel ${(pool.inKernel * 100).toFixed(2)} %`,
  );
}
process.stdout.write(
  `${candidates} candidates, query never hits, ${slicesPerWorker} slices per worker\n${rounds.join("\n")}\n`,
);
