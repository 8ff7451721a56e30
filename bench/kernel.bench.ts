/**
 * Search kernel throughput on one thread, candidates per second for "doctor" (ideal 0, nothing else reported),
 * measured in the same run for the node:crypto pipelines (the baselines) and for both kernel engines.
 * `node bench/kernel.bench.ts [--quick]` prints the rows; bench/main.ts imports benchKernel.
 */
import { createHash, hash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { candidateAt, firstIndexOfLength } from "../src/search/candidates.ts";
import { createKernel, type KernelEngine } from "../src/search/kernel.ts";
import { substringDistance } from "../src/search/reference.ts";
import type { BenchRow } from "./rows.ts";

const TARGET = "doctor";
/** Length-4 candidates: the length most real searches spend their time in. */
const START = firstIndexOfLength(4);

/** Candidates per second of `scan(start, count)` (which returns how many it examined), best of `rounds`. */
function rate(scan: (start: number, count: number) => number, seconds: number, rounds: number): number {
  let best = 0;
  for (let round = 0; round < rounds; round++) {
    let index = START;
    let chunk = 1024;
    const began = performance.now();
    let elapsed = 0;
    while (elapsed < seconds * 1000) {
      index += scan(index, chunk);
      elapsed = performance.now() - began;
      if (elapsed < 20) chunk *= 2;
    }
    best = Math.max(best, (index - START) / (elapsed / 1000));
  }
  return best;
}

function cryptoPipeline(oneShot: boolean): (start: number, count: number) => number {
  return (start, count) => {
    for (let index = start; index < start + count; index++) {
      const candidate = candidateAt(index);
      const hashed = oneShot
        ? hash("sha1", candidate, "base64")
        : createHash("sha1").update(candidate).digest("base64");
      if (substringDistance(hashed, TARGET) === 0) return index - start + 1;
    }
    return count;
  };
}

function kernelPipeline(engine: KernelEngine): (start: number, count: number) => number {
  const kernel = createKernel({ target: TARGET, ideal: 0, interesting: -1 }, engine);
  const stop = new Int32Array(new SharedArrayBuffer(4));
  return (start, count) => kernel.scanSlice(start, start + count, stop, 0).scanned;
}

export async function benchKernel(opts: { quick: boolean }): Promise<BenchRow[]> {
  const seconds = opts.quick ? 0.4 : 1.5;
  const rounds = opts.quick ? 2 : 3;
  const unit = "candidates/s";
  const createHashRate = rate(cryptoPipeline(false), seconds / 2, rounds);
  const oneShotRate = rate(cryptoPipeline(true), seconds / 2, rounds);
  const jsRate = rate(kernelPipeline("js"), seconds, rounds);
  const wasmRate = rate(kernelPipeline("wasm"), seconds, rounds);
  const versus = (value: number) => ({ baseline: createHashRate, ratio: value / createHashRate });
  return [
    { name: "kernel baseline: createHash + base64 + plain distance", value: createHashRate, unit },
    {
      name: "kernel baseline: crypto.hash + base64 + plain distance",
      value: oneShotRate,
      unit,
      ...versus(oneShotRate),
    },
    { name: "kernel: JS engine (SHA-1 in Int32 locals)", value: jsRate, unit, ...versus(jsRate) },
    { name: "kernel: wasm SIMD128 engine (2 × 4 lanes)", value: wasmRate, unit, ...versus(wasmRate) },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await benchKernel({ quick: process.argv.includes("--quick") })) {
    const ratio = row.ratio === undefined ? "" : `  ×${row.ratio.toFixed(1)} vs baseline`;
    process.stdout.write(`${row.name}: ${(row.value / 1e6).toFixed(2)} M ${row.unit}${ratio}\n`);
  }
}
