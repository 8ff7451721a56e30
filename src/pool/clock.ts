/**
 * The clock of "when did the last worker leave the kernel": the machine's monotonic clock (`process.hrtime`,
 * CLOCK_MONOTONIC on Linux), in ms. Every thread and process on the machine reads the same one, so a worker's
 * time can be compared with another thread's or another process's (the benchmark's Go client reads it too). The
 * wall clock `performance.timeOrigin + performance.now()` cannot serve: each Node thread fixes its mapping to the
 * wall clock once, at its start, from two clock reads that a preemption can separate by milliseconds.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
