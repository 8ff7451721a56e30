/**
 * Probe (not part of `npm run bench`): does Linux move a preempted search worker to a core that has just gone
 * idle? No server, no V8 helper threads in the picture: two threads at nice 19 spin and read a stop flag (the
 * workers), a third at nice 0 spins for 3 ms at random moments (standing in for a V8 helper thread that preempts
 * a worker), and the main thread raises the flag at random moments and sleeps until both spinners have left,
 * timing the last one out on the monotonic clock.
 *
 *   node bench/probes/idle-pull.ts [lingerStepMs=0] [trials=1500]
 *
 * With lingerStepMs 0 the first spinner out sleeps until the next trial, so its core goes idle once. With
 * lingerStepMs > 0 it sleeps in steps of that length (up to LINGER_MAX_MS) while the other is still in, so its
 * core goes idle again and again, and the scheduler looks for a thread to pull each time.
 */
import { setPriority } from "node:os";
import { isMainThread, Worker, workerData } from "node:worker_threads";
import { monotonicMs } from "../../src/pool/clock.ts";
import { percentile } from "../stats.ts";

/** Int32 cells of the shared buffer; the spinners' exit times follow as Float64 at byte EXIT_TIMES_OFFSET. */
const FLAG = 0;
const INSIDE = 1;
const GENERATION = 2;
/** Never written: waiting on it is a plain sleep. */
const SLEEP = 3;
const EXIT_TIMES_OFFSET = 16;
const HELPER_BURST_MS = 3;
const HELPER_MAX_GAP_MS = 15;
const LINGER_MAX_MS = 3;

interface Role {
  role: "spinner" | "helper";
  buffer: SharedArrayBuffer;
  id: number;
  lingerStepMs: number;
}

function spinFor(ms: number): void {
  const until = monotonicMs() + ms;
  while (monotonicMs() < until) {}
}

function runSpinner({ buffer, id, lingerStepMs }: Role): void {
  setPriority(19);
  const cells = new Int32Array(buffer);
  const exitTimes = new Float64Array(buffer, EXIT_TIMES_OFFSET, 2);
  let generation = 0;
  let sink = 0;
  for (;;) {
    Atomics.wait(cells, GENERATION, generation);
    generation = Atomics.load(cells, GENERATION);
    Atomics.add(cells, INSIDE, 1);
    // About 10 µs of work between two reads of the flag, as the search kernel's ~16 µs.
    while (Atomics.load(cells, FLAG) === 0) for (let k = 0; k < 2000; k++) sink = (sink * 31 + k) | 0;
    exitTimes[id] = monotonicMs();
    Atomics.sub(cells, INSIDE, 1);
    Atomics.notify(cells, INSIDE);
    if (lingerStepMs > 0) {
      const until = monotonicMs() + LINGER_MAX_MS;
      for (;;) {
        const seen = Atomics.load(cells, INSIDE);
        if (seen === 0 || monotonicMs() > until) break;
        Atomics.wait(cells, INSIDE, seen, lingerStepMs);
      }
    }
    if (sink === 42) exitTimes[id] += 0; // keeps the loop's work observable
  }
}

function runHelper({ buffer }: Role): void {
  const cells = new Int32Array(buffer);
  for (;;) {
    Atomics.wait(cells, SLEEP, 0, Math.random() * HELPER_MAX_GAP_MS);
    spinFor(HELPER_BURST_MS);
  }
}

async function main(): Promise<void> {
  const lingerStepMs = Number(process.argv[2] ?? 0);
  const trials = Number(process.argv[3] ?? 1500);
  const buffer = new SharedArrayBuffer(EXIT_TIMES_OFFSET + 2 * Float64Array.BYTES_PER_ELEMENT);
  const cells = new Int32Array(buffer);
  const exitTimes = new Float64Array(buffer, EXIT_TIMES_OFFSET, 2);
  const start = (role: Role["role"], id: number) =>
    new Worker(new URL(import.meta.url), { workerData: { role, buffer, id, lingerStepMs } satisfies Role });
  const threads = [start("spinner", 0), start("spinner", 1), start("helper", 0)];
  await new Promise((resolve) => setTimeout(resolve, 300));
  const spans: number[] = [];
  while (spans.length < trials) {
    Atomics.store(cells, FLAG, 0);
    Atomics.add(cells, GENERATION, 1);
    Atomics.notify(cells, GENERATION);
    Atomics.wait(cells, SLEEP, 0, 4 + Math.random() * 8);
    // Only trials in which both spinners were inside when the flag went up.
    const counted = Atomics.load(cells, INSIDE) === 2;
    const raisedAt = monotonicMs();
    Atomics.store(cells, FLAG, 1);
    for (let seen = Atomics.load(cells, INSIDE); seen !== 0; seen = Atomics.load(cells, INSIDE)) {
      Atomics.wait(cells, INSIDE, seen, 50);
    }
    if (counted) spans.push(Math.max(exitTimes[0]!, exitTimes[1]!) - raisedAt);
  }
  const ms = (value: number) => value.toFixed(2);
  console.log(
    `linger step ${lingerStepMs} ms, ${trials} trials: flag → last spinner out p50 ${ms(percentile(spans, 50))}, ` +
      `p99 ${ms(percentile(spans, 99))}, max ${ms(Math.max(...spans))} ms; ` +
      `over 1 ms ${spans.filter((s) => s > 1).length}, over 2 ms ${spans.filter((s) => s > 2).length}`,
  );
  await Promise.all(threads.map((thread) => thread.terminate()));
}

if (isMainThread) {
  await main();
} else {
  const role = workerData as Role;
  if (role.role === "helper") runHelper(role);
  else runSpinner(role);
}
