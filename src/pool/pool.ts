/**
 * SearchPool: runs HashFinder searches in worker threads, in parallel and fairly, with cooperative cancellation
 * through shared memory. The main thread only dispatches slices and commits results; it never hashes.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ConnectError } from "@connectrpc/connect";
import { shuttingDown } from "../errors.ts";
import { createLoadCells, loadCoreYield, resetLoadCell, untilLoadSettled } from "./core-yield.ts";
import { loadCpuAffinity } from "./cpu-affinity.ts";
import { searchFailed } from "./errors.ts";
import { type PausingMode, pausingMode } from "./pacing.ts";
import type { SliceReply, SliceTask, WorkerInit } from "./protocol.ts";
import { openRunQueueSource, type RunQueueSource } from "./run-queue.ts";
import { Scheduler, type SearchRequest, type Slice } from "./scheduler.ts";
import type { SearchRun } from "./search-run.ts";
import {
  createSharedState,
  createWorkerRecords,
  executingCount,
  leaveKernel,
  recordedInside,
  recordOutside,
  stopFlagIndex,
  waitUntilExecuting,
  waitUntilNoneExecuting,
} from "./shared-state.ts";
import { StopHandoff, type StopHandoffStats } from "./stop-handoff.ts";
import { WorkerMover } from "./worker-mover.ts";
import { scavengeIfFilled } from "./young-gc.ts";

export type { SearchQuery } from "../search/kernel.ts";
export type { Hit } from "../search/reference.ts";
export type { SearchRequest } from "./scheduler.ts";
export type { SearchRun } from "./search-run.ts";

export interface SearchPoolOptions {
  /** Worker threads. Default: `os.availableParallelism()`. */
  workers?: number;
  /** Searches sharing the workers round-robin at once. Default: `workers * 4`. */
  maxRunning?: number;
  /** Searches waiting for a running place; one more is refused at once with `serverFull(maxQueued)`. */
  maxQueued: number;
  /**
   * Running + queued searches per client key; one more is refused at once with `clientOverShare(maxPerClient)`.
   * 0 = unlimited.
   */
  maxPerClient: number;
  /**
   * Candidates per slice. Default: tuned from the measured kernel speed so that a slice takes about 4 ms
   * (see slice-sizer.ts). Cancellation latency does not depend on it (the kernel checks its stop flag every
   * STOP_CHECK_INTERVAL candidates).
   */
  sliceSize?: number;
  /**
   * Back-pressure: a search whose committed-but-unread hits (plus those of its completed, not yet committed
   * slices) reach this many gets no new slice until its consumer reads. Slices already in flight still complete,
   * so the buffer can exceed it by their hits. Default 256.
   */
  maxBufferedHits?: number;
  /** Slices queued per worker; 2 hides the message round trip between slices. Default 2. */
  slicesPerWorker?: number;
  /**
   * Every this many ms of scanning a worker yields its core to any thread waiting for it, so that the event loop
   * or a client that waits for a core gets one (pacing.ts). Where `sched_yield` cannot be called it asks whether
   * a thread waits and sleeps for a moment if one does (without Linux's run queue to read, every 0.5 ms at most).
   * 0 = never. Default DEFAULT_YIELD_EVERY_MS.
   */
  yieldEveryMs?: number;
  /** Pace by `sched_yield` where it can be called (core-yield.ts); false = by sleeping, as without it. Default true. */
  yieldCores?: boolean;
  /**
   * After a cancel raises a search's stop flag, the event loop sleeps until that search's workers are out of
   * the kernel, for at most this many ms (stop-handoff.ts): a worker that the cancel's own work on the event
   * loop would keep off its core sees the flag at once. 0 = never. Default DEFAULT_STOP_WAIT_MS.
   */
  stopWaitMs?: number;
  /**
   * During that sleep, move workers still inside the kernel after MOVE_AFTER_MS onto the event loop's CPU, and
   * give them their CPUs back when it ends (worker-mover.ts; Linux, where koffi loads). Default true.
   */
  moveLateWorkers?: boolean;
  /** Worker entry module. Default `./worker.ts`; tests substitute a fixture that wraps it. */
  workerUrl?: URL;
  /**
   * Called once if the pool breaks: workers kept crashing until none was left (MAX_CRASH_STREAK), and every search
   * is refused from then on. The server reports it through its health service, so that a probe restarts it.
   */
  onBroken?: (reason: ConnectError) => void;
}

interface PoolWorker {
  readonly thread: Worker;
  /** Its cell in the worker records (shared-state.ts); a replacement takes over the crashed worker's. */
  readonly index: number;
  /** Slices posted to this worker whose result has not come back, by task id. */
  readonly inFlight: Map<number, Slice>;
  lastError: unknown;
}

/**
 * After this many workers died in a row with no slice finished in between, a dying worker is not replaced until
 * some slice finishes again (a thread that dies at start would otherwise be respawned for ever); if none is left,
 * the pool is broken.
 */
const MAX_CRASH_STREAK = 5;

/**
 * Longest close() waits for a worker's load of koffi to end before terminating it: loads took 5–17 ms at nice 19
 * under the tests' load, and a worker now loads before it lowers its priority.
 */
const LOAD_SETTLE_MS = 5_000;

/**
 * Default interval of the workers' pacing (pacing.ts). On a 2-core Linux VM (HZ=250, EEVDF) with every core
 * searching, a grpc-go client's cancels that took over 2 ms to reach the last worker went from 50–102 per 1,000
 * never pausing, and 16–44 sleeping every 0.5 ms unconditionally (14 % of pool throughput), to 5–16 sleeping when
 * a thread waited, asked every 0.05 ms (6–17 %: the sleeps idled the cores); asking every 0.1 or 0.25 ms let
 * more through. Yielding every 0.05 ms instead of sleeping kept that tail and gave back most of the throughput
 * (docs/performance.md, "the twentieth session"). `npm run bench` prints both sides.
 */
export const DEFAULT_YIELD_EVERY_MS = 0.05;

/**
 * Default longest sleep of the event loop after a cancel. On a 2-core VM the workers were out 0.05–0.09 ms (p50)
 * and 0.2–1.7 ms (p99) after the server heard the cancel, in 200-trial bench runs; a wait that runs out stops the
 * waiting for a while (stop-handoff.ts).
 */
export const DEFAULT_STOP_WAIT_MS = 1;

export class SearchPool {
  readonly #state: Int32Array;
  readonly #scheduler: Scheduler;
  readonly #workers: PoolWorker[] = [];
  readonly #workerUrl: URL;
  readonly #onBroken: ((reason: ConnectError) => void) | undefined;
  readonly #slicesPerWorker: number;
  #idleWaiters: Array<() => void> = [];
  #nextTask = 1;
  #inFlight = 0;
  #slicesStarted = 0;
  #pauses = 0;
  #scavenges = 0;
  readonly #yieldEveryMs: number;
  /** Whether the workers pace by `sched_yield` (loaded here to know that the workers can load it too). */
  readonly #yieldsCores: boolean;
  /** Whether each worker is loading koffi (core-yield.ts), so that close() never terminates one meanwhile. */
  readonly #loadCells: Int32Array;
  /** Opened once per pool for its workers' pacing when they sleep instead; closed once they are gone. */
  readonly #runQueue: RunQueueSource | undefined;
  readonly #stopHandoff: StopHandoff;
  readonly #records: Int32Array;
  readonly #movesLateWorkers: boolean;
  #crashStreak = 0;
  /** Indices of workers that died during a crash streak and were not replaced yet. */
  readonly #notReplaced: number[] = [];
  #pumping = false;
  /** Set by close(), or when workers keep crashing: new searches are refused with it. */
  #closedReason: { reason: unknown } | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SearchPoolOptions) {
    const yieldEveryMs = options.yieldEveryMs ?? DEFAULT_YIELD_EVERY_MS;
    requireMilliseconds("yieldEveryMs", yieldEveryMs);
    this.#yieldEveryMs = yieldEveryMs;
    const stopWaitMs = options.stopWaitMs ?? DEFAULT_STOP_WAIT_MS;
    requireMilliseconds("stopWaitMs", stopWaitMs);
    const workers = options.workers ?? availableParallelism();
    const maxRunning = options.maxRunning ?? workers * 4;
    const slicesPerWorker = options.slicesPerWorker ?? 2;
    requireInteger("workers", workers, 1);
    requireInteger("maxRunning", maxRunning, 1);
    requireInteger("maxQueued", options.maxQueued, 0);
    requireInteger("maxPerClient", options.maxPerClient, 0);
    requireInteger("slicesPerWorker", slicesPerWorker, 1);
    if (options.sliceSize !== undefined) requireInteger("sliceSize", options.sliceSize, 1);
    const maxBufferedHits = options.maxBufferedHits ?? 256;
    requireInteger("maxBufferedHits", maxBufferedHits, 1);

    // Ended searches keep their slot until their in-flight slices return; there are at most as many of those
    // as slices in flight, so this many slots never run out.
    const stopSlots = maxRunning + workers * slicesPerWorker;
    this.#state = createSharedState(stopSlots);
    this.#slicesPerWorker = slicesPerWorker;
    this.#workerUrl = options.workerUrl ?? new URL("./worker.ts", import.meta.url);
    this.#onBroken = options.onBroken;
    this.#scheduler = new Scheduler(
      this.#state,
      stopSlots,
      {
        maxRunning,
        maxQueued: options.maxQueued,
        maxPerClient: options.maxPerClient,
        maxBufferedHits,
        maxAheadSlices: 2 * workers * slicesPerWorker,
        sliceSize: options.sliceSize,
      },
      () => this.#pump(),
      (slot) => this.#stopHandoff.afterStop(slot),
    );
    this.#records = createWorkerRecords(workers);
    const affinity = stopWaitMs > 0 && (options.moveLateWorkers ?? true) ? loadCpuAffinity() : undefined;
    const mover = affinity === undefined ? undefined : new WorkerMover(this.#records, affinity);
    this.#movesLateWorkers = mover !== undefined;
    this.#stopHandoff = new StopHandoff(this.#state, stopWaitMs, mover);
    this.#yieldsCores = yieldEveryMs > 0 && (options.yieldCores ?? true) && loadCoreYield() !== undefined;
    this.#loadCells = createLoadCells(workers);
    // Last, once nothing can throw: the pool closes it in close().
    this.#runQueue = yieldEveryMs > 0 && !this.#yieldsCores ? openRunQueueSource() : undefined;
    for (let i = 0; i < workers; i++) this.#workers.push(this.#spawn(i));
  }

  /**
   * Starts (or queues) a search. Iterating yields hits in candidate order (distance ≤ max(ideal, interesting))
   * and ends after the hit that ends the search (`endsSearch`: the first ideal one that is not also interesting).
   *
   * - Over the limits: throws `serverFull(maxQueued)` / `clientOverShare(maxPerClient)` (RESOURCE_EXHAUSTED)
   *   synchronously; nothing starts. After close(): throws close's reason.
   * - `signal` already aborted: throws `signal.reason` synchronously; nothing starts.
   * - Budget reached without such a hit: the iterator yields the hits before it, then throws
   *   `budgetExhausted(budget)`. No candidate at index ≥ budget is examined. Without a budget (0), the same at
   *   the end of the candidate space (SEARCH_SPACE_END), with `searchSpaceExhausted(SEARCH_SPACE_END)`.
   * - `signal` aborts: a queued search is removed and never runs; a running one has its stop flag raised (its
   *   in-flight slices stop within the kernel's check interval, workers stay alive); the next read throws
   *   `signal.reason`, buffered hits are dropped.
   * - `return()` on the iterator stops the search the same way.
   * - A kernel exception or a crashed worker: the iterator throws an INTERNAL ConnectError (cause attached).
   *
   * The search holds its running/queued place until it ends; the caller must iterate it to the end, call
   * `return()` (for-await does on break/throw), or abort the signal. Every listener added to `signal` is removed
   * when the search ends.
   */
  search(signal: AbortSignal, request: SearchRequest): SearchRun {
    if (this.#closedReason !== undefined) throw this.#closedReason.reason;
    // Before any of this search's work: a scavenge now cannot stand between a later cancel and the stop flag.
    if (!signal.aborted && scavengeIfFilled()) this.#scavenges++;
    return this.#scheduler.submit(signal, request);
  }

  /** Observability for tests and logs. `busyWorkers` counts workers holding at least one slice. */
  stats(): {
    workers: number;
    busyWorkers: number;
    running: number;
    queued: number;
    /** Searches parked because their consumer stopped reading: no running place, no slice. */
    waitingForReader: number;
    slicesStarted: number;
    /** Times workers offered their core (yields; sleeps where they cannot yield), over the pool's life. */
    pauses: number;
    /** The event loop's sleeps after cancels (stopWaitMs), over the pool's life. */
    stopWaits: StopHandoffStats;
    /** Young-generation collections taken as a search started (young-gc.ts), over the pool's life. */
    scavenges: number;
  } {
    let busyWorkers = 0;
    for (const worker of this.#workers) if (worker.inFlight.size > 0) busyWorkers++;
    return {
      workers: this.#workers.length,
      busyWorkers,
      running: this.#scheduler.running,
      queued: this.#scheduler.queued,
      waitingForReader: this.#scheduler.waitingForReader,
      slicesStarted: this.#slicesStarted,
      pauses: this.#pauses,
      stopWaits: this.#stopHandoff.stats,
      scavenges: this.#scavenges,
    };
  }

  /** Workers inside the kernel right now (read from shared memory; excludes slices waiting in a worker). */
  executing(): number {
    return executingCount(this.#state);
  }

  /** Resolves when no worker is executing or holding a slice (immediately if idle now). */
  whenIdle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Resolves once some worker is inside the kernel (proof for tests that a slice really runs); rejects with
   * `signal.reason` if it aborts first.
   */
  whenExecuting(signal: AbortSignal): Promise<void> {
    return waitUntilExecuting(signal, this.#state);
  }

  /**
   * Resolves once no worker is inside the kernel (at once if none is now), woken by the workers themselves: the
   * benchmark's clock for "the last worker stopped" after a cancel. Rejects with `signal.reason` if it aborts
   * first. A worker may still enter the kernel afterwards for a slice already queued to it (it returns at once
   * if that slice's search was stopped).
   */
  whenNoneExecuting(signal: AbortSignal): Promise<void> {
    return waitUntilNoneExecuting(signal, this.#state);
  }

  /** Whether workers yield, sleep only when another thread waits for a CPU, every 0.5 ms (no run queue), or never. */
  get pausing(): PausingMode {
    return pausingMode(this.#yieldEveryMs, this.#yieldsCores, this.#runQueue);
  }

  /** Whether a cancel's wait moves late workers onto the event loop's CPU (moveLateWorkers, where possible). */
  get movesLateWorkers(): boolean {
    return this.#movesLateWorkers;
  }

  /**
   * Ends every running and queued search (their iterators throw `reason`, default `shuttingDown()`), then
   * terminates the threads. Later `search()` calls throw `reason`. Idempotent.
   */
  close(reason: unknown = shuttingDown()): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closedReason ??= { reason };
    this.#scheduler.endAll(reason);
    const workers = [...this.#workers];
    const terminate = async ({ index, thread }: PoolWorker) => {
      // Never while the thread initialises koffi: that kills the process (core-yield.ts).
      await untilLoadSettled(this.#loadCells, index, LOAD_SETTLE_MS);
      await thread.terminate();
    };
    this.#closing = Promise.all(workers.map(terminate)).then(() => {
      // No thread reads it any more.
      this.#runQueue?.close();
      for (const worker of this.#workers) worker.inFlight.clear();
      this.#inFlight = 0;
      this.#settleIdle();
    });
    return this.#closing;
  }

  #spawn(index: number): PoolWorker {
    resetLoadCell(this.#loadCells, index);
    const source = this.#runQueue;
    const runQueue =
      source === undefined ? undefined : { fd: source.fd, cpus: source.cpus, shared: source.shared };
    const init: WorkerInit = {
      state: this.#state,
      records: this.#records,
      workerIndex: index,
      yieldEveryMs: this.#yieldEveryMs,
      yieldsCores: this.#yieldsCores,
      loadCells: this.#loadCells,
      runQueue,
    };
    const thread = new Worker(this.#workerUrl, { workerData: init });
    const worker: PoolWorker = { thread, index, inFlight: new Map(), lastError: undefined };
    thread.on("message", (reply: SliceReply) => this.#onReply(worker, reply));
    thread.on("error", (error) => {
      worker.lastError = error;
    });
    thread.on("messageerror", (error) => {
      worker.lastError = error;
    });
    thread.on("exit", (code) => this.#onExit(worker, code));
    return worker;
  }

  /** Hands out slices while some worker has room and some search can progress. */
  #pump(): void {
    if (this.#pumping || this.#closing !== undefined) return;
    this.#pumping = true;
    try {
      for (;;) {
        const worker = this.#leastLoadedWorker();
        if (worker === undefined) return;
        const slice = this.#scheduler.takeSlice();
        if (slice === undefined) return;
        const task: SliceTask = {
          task: this.#nextTask++,
          search: slice.search.id,
          query: slice.search.query,
          start: slice.start,
          end: slice.end,
          stopIndex: stopFlagIndex(slice.search.slot),
        };
        worker.inFlight.set(task.task, slice);
        this.#inFlight++;
        this.#slicesStarted++;
        worker.thread.postMessage(task);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** An idle worker first, so that a lone search spreads over every thread. */
  #leastLoadedWorker(): PoolWorker | undefined {
    let best: PoolWorker | undefined;
    for (const worker of this.#workers) {
      if (worker.inFlight.size >= this.#slicesPerWorker) continue;
      if (best === undefined || worker.inFlight.size < best.inFlight.size) best = worker;
    }
    return best;
  }

  #onReply(worker: PoolWorker, reply: SliceReply): void {
    const slice = worker.inFlight.get(reply.task);
    if (slice === undefined) return;
    worker.inFlight.delete(reply.task);
    this.#inFlight--;
    if ("error" in reply) {
      this.#scheduler.sliceFailed(slice, reply.error);
    } else {
      this.#crashStreak = 0;
      // A slice finished: the pool works, so the workers lost in the streak are replaced now.
      if (this.#closing === undefined) {
        for (const index of this.#notReplaced.splice(0)) this.#workers.push(this.#spawn(index));
      }
      this.#pauses += reply.pauses;
      this.#scheduler.sliceDone(slice, reply);
    }
    this.#pump();
    this.#settleIdle();
  }

  /** A worker that exits on its own has crashed: fail its slices' searches, replace it, keep going. */
  #onExit(worker: PoolWorker, code: number): void {
    if (this.#closing !== undefined) return;
    const index = this.#workers.indexOf(worker);
    if (index < 0) return;
    const cause = new Error(`search worker exited with code ${code}`, { cause: worker.lastError });
    // A thread that died inside the kernel never ran its leaveKernel: take it out of the counts for it (else its
    // slot's count never reaches 0 again, and every later stop on that slot waits out its whole stop wait), and
    // name it as scanning nothing.
    const insideAt = recordedInside(this.#records, worker.index);
    recordOutside(this.#records, worker.index);
    if (insideAt !== 0) leaveKernel(this.#state, insideAt);
    const lost = [...worker.inFlight.values()];
    worker.inFlight.clear();
    this.#inFlight -= lost.length;
    this.#crashStreak++;
    if (this.#crashStreak >= MAX_CRASH_STREAK) {
      this.#workers.splice(index, 1);
      this.#notReplaced.push(worker.index);
    } else {
      this.#workers[index] = this.#spawn(worker.index);
    }
    for (const slice of lost) this.#scheduler.sliceFailed(slice, cause);
    if (this.#workers.length === 0 && this.#closedReason === undefined) {
      // Nothing can run any more: fail fast rather than leave searches waiting forever.
      const failure = searchFailed(cause);
      this.#closedReason = { reason: failure };
      this.#scheduler.endAll(failure);
      this.#onBroken?.(failure);
    }
    this.#pump();
    this.#settleIdle();
  }

  #settleIdle(): void {
    if (this.#inFlight !== 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** A duration option: a finite number of ms ≥ 0. */
function requireMilliseconds(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`${name} must be a number ≥ 0, got ${value}`);
}

function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`SearchPoolOptions.${name} must be an integer ≥ ${min}, got ${value}`);
  }
}
