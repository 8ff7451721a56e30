/**
 * Worker thread entry: runs slice tasks with the search kernel, one at a time, in the order received, and posts
 * each result back. Stops a slice early when its search's stop flag is raised (read by the kernel), never by
 * being terminated; a slice whose search had stopped before it came up is answered without entering the kernel.
 * A kernel exception is reported as that slice's error; the thread stays alive.
 */
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { createKernel, type Kernel } from "../search/kernel.ts";
import { monotonicMs } from "./clock.ts";
import { loadCoreYield, loadUnlessClosing } from "./core-yield.ts";
import { currentThreadId } from "./cpu-affinity.ts";
import { createPacing } from "./pacing.ts";
import type { SliceReply, SliceTask, WorkerInit } from "./protocol.ts";
import {
  enterKernel,
  leaveKernel,
  recordInside,
  recordOutside,
  recordThreadId,
  stopRaised,
} from "./shared-state.ts";

/** Kernels kept per search: enough for every search a worker can interleave, small enough to forget old ones. */
const KERNEL_CACHE_SIZE = 256;

const port = parentPort;
if (port === null) throw new Error("src/pool/worker.ts must run as a worker thread");
const { state, records, workerIndex, yieldEveryMs, yieldsCores, loadCells, runQueue } =
  workerData as WorkerInit;
// First, at normal priority, so that it is short: the pool waits for this load before it terminates the thread.
const coreYield = yieldsCores ? loadUnlessClosing(loadCells, workerIndex, loadCoreYield) : undefined;

// Lowest CPU priority for this thread (on Linux, setpriority(0) applies to the calling thread only): when the
// workers fill every core, the event loop that hears a cancel or a new call gets a core back at once.
// Where the OS refuses, the pool works the same, only with a slower tail.
try {
  setPriority(19);
} catch {}

// So that the event loop can move this thread if it is late to a stop (worker-mover.ts).
recordThreadId(records, workerIndex, currentThreadId());
const pacing = createPacing(yieldEveryMs, runQueue, coreYield);
const kernels = new Map<number, Kernel>();

function kernelFor(task: SliceTask): Kernel {
  let kernel = kernels.get(task.search);
  if (kernel === undefined) {
    kernel = createKernel(task.query);
    kernels.set(task.search, kernel);
    // Map iteration order is insertion order: the first key is the oldest search.
    if (kernels.size > KERNEL_CACHE_SIZE) kernels.delete(kernels.keys().next().value as number);
  }
  return kernel;
}

function runSlice(task: SliceTask): SliceReply {
  try {
    // The pool queues a second slice behind the running one; after a cancel it is dead on arrival. Answering it
    // here, not from inside the kernel, keeps it out of "when the last worker left the kernel" and out of the
    // in-kernel count the event loop sleeps on after a cancel (stop-handoff.ts).
    if (stopRaised(state, task.stopIndex)) {
      return { task: task.task, hits: [], scanned: 0, stopped: true, elapsedMs: 0, pauses: 0 };
    }
    const kernel = kernelFor(task);
    recordInside(records, workerIndex, task.stopIndex);
    enterKernel(state, task.stopIndex);
    const began = monotonicMs();
    try {
      const result = kernel.scanSlice(task.start, task.end, state, task.stopIndex, pacing);
      const leftAt = monotonicMs();
      const hits: number[] = [];
      for (const hit of result.hits) hits.push(hit.index, hit.distance);
      return {
        task: task.task,
        hits,
        scanned: result.scanned,
        stopped: result.stopped,
        elapsedMs: leftAt - began,
        leftAt,
        pauses: result.pauses,
      };
    } finally {
      recordOutside(records, workerIndex);
      leaveKernel(state, task.stopIndex);
    }
  } catch (error) {
    return { task: task.task, error };
  }
}

port.on("message", (task: SliceTask) => {
  port.postMessage(runSlice(task));
});
