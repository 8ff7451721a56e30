/** Messages between the pool (main thread) and its worker threads. Structured-cloned by postMessage. */
import type { SearchQuery } from "../search/kernel.ts";
import type { RunQueueSource } from "./run-queue.ts";

/** What the worker receives once, through `workerData`. */
export interface WorkerInit {
  /** The shared state of shared-state.ts (stop flags, executing count). */
  state: Int32Array;
  /** The pool's worker records (shared-state.ts), and which of them is this worker's. */
  records: Int32Array;
  workerIndex: number;
  /** Every this many ms of scanning the worker asks whether to give its core away (0 = never; pacing.ts). */
  yieldEveryMs: number;
  /** Whether it paces by `sched_yield` (core-yield.ts), which the pool could load; else by sleeping. */
  yieldsCores: boolean;
  /** The pool's load cells (core-yield.ts): this worker's, at `workerIndex`, guards its load of koffi. */
  loadCells: Int32Array;
  /** The pool's open /proc/loadavg (run-queue.ts), shared by its workers; absent where there is none. */
  runQueue: Pick<RunQueueSource, "fd" | "cpus" | "shared"> | undefined;
}

/** Main → worker: scan candidates [start, end) of one search. */
export interface SliceTask {
  /** Pool-wide id of this slice; echoed in the result. */
  task: number;
  /** Pool-wide id of the search: the worker caches one kernel per search. */
  search: number;
  query: SearchQuery;
  start: number;
  end: number;
  /** Index of the search's stop flag in the shared Int32Array (already offset, as the kernel expects). */
  stopIndex: number;
}

/** Worker → main: the outcome of one slice. */
export type SliceReply =
  | {
      task: number;
      /** Hits flattened as [index0, distance0, index1, distance1, …] (cheaper to clone than objects). */
      hits: number[];
      scanned: number;
      stopped: boolean;
      /** Real (not CPU) milliseconds spent in the kernel, on the monotonic clock, for slice-size tuning. */
      elapsedMs: number;
      /**
       * When the worker left the kernel, in ms on the machine's monotonic clock (clock.ts); absent when the slice
       * never entered it (its search had stopped before the worker came to it).
       */
      leftAt?: number;
      /** Times the scan gave its core away. */
      pauses: number;
    }
  | { task: number; error: unknown };
