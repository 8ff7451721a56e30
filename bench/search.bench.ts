/**
 * The search-speed figures of issue 3, each beside a baseline measured in the same run:
 * kernel rate (ours vs node:crypto), 1 vs N pool workers on one search, Find("doctor", 0) end to end over gRPC
 * (N workers vs 1), cancel → last worker out of the kernel, a cancelled queued call never started, and short-call
 * latency while an unbounded search runs (vs an idle server).
 * Everything runs on 127.0.0.1; every server and pool started here is shut down; every wait is bounded.
 * `node bench/search.bench.ts [--quick]` prints the rows; bench/main.ts imports benchSearch.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { transportFor } from "../src/cli/transport.ts";
import { HashFinder } from "../src/gen/hash_name/hash_name_pb.ts";
import { SearchPool, type SearchRun } from "../src/pool/pool.ts";
import { type CancelkitServer, startServer } from "../src/server/create-server.ts";
import { silentLogger } from "../src/server/log.ts";
import { defaultServerOptions } from "../src/server/options.ts";
import { buildGoProbe, findGoToolchain, startGoProbe } from "../test/interop/go-probe.ts";
import { benchKernel } from "./kernel.bench.ts";
import type { BenchRow } from "./rows.ts";

/** '~' is not a base64 character: this name never matches at distance 0, so the search runs until stopped. */
const NEVER_NAME = "~~~~";
const NEVER = { target: NEVER_NAME, ideal: 0, interesting: -1 };
/** Find("doctor", 0) is candidate 10,789,822; its secret is base64 of that candidate. */
const DOCTOR_SECRET = "pO0G";
/** Generous bound on any single wait, so that a broken server fails the bench instead of hanging it. */
const WAIT_MS = 30_000;

interface Options {
  quick: boolean;
}

/** The figures, in the order printed; each may be run alone (`node bench/search.bench.ts [--quick] cancel`). */
const SECTIONS = {
  kernel: (opts: Options) => kernelRows(opts),
  scaling: async (opts: Options, workers: number) => [await scalingRow(opts, workers)],
  doctor: async (opts: Options, workers: number) => [await doctorRow(opts, workers)],
  cancel: (opts: Options, workers: number) => cancelRows(opts, workers),
  "cancel-go": (opts: Options, workers: number) => cancelGoRows(opts, workers),
  fairness: (opts: Options, workers: number) => fairnessRows(opts, workers),
};
type Section = keyof typeof SECTIONS;

/** Rows of every section (or of `only`), with N = os.availableParallelism() workers where a pool is involved. */
export async function benchSearch(opts: Options, only?: readonly string[]): Promise<BenchRow[]> {
  const workers = Number(process.env.BENCH_WORKERS ?? availableParallelism());
  const rows: BenchRow[] = [];
  for (const [section, run] of Object.entries(SECTIONS)) {
    if (only !== undefined && only.length > 0 && !only.includes(section)) continue;
    const load = startLoadWatch();
    const sectionRows = await run(opts, workers);
    const others = load.othersShare();
    const loadNote =
      others === undefined ? "" : `other processes used ${(others * 100).toFixed(0)} % of the CPUs meanwhile`;
    // Once per section, under its last row.
    sectionRows.forEach((row, index) => {
      const last = index === sectionRows.length - 1;
      const note = [row.note, last ? loadNote : ""]
        .filter((part) => part !== undefined && part !== "")
        .join("; ");
      rows.push(note === "" ? row : { ...row, note });
    });
  }
  return rows;
}

/**
 * How busy the machine was with other work while a section ran (Linux: /proc/stat minus this process's CPU time),
 * as a share of all CPUs; undefined where /proc/stat is unavailable. A figure measured while others used the CPUs
 * is not this code's speed.
 */
function startLoadWatch(): { othersShare(): number | undefined } {
  const readBusy = (): { busy: number; total: number } | undefined => {
    try {
      const fields = readFileSync("/proc/stat", "utf8")
        .split("\n", 1)[0]
        ?.trim()
        .split(/\s+/)
        .slice(1)
        .map(Number);
      if (fields === undefined || fields.length < 8) return undefined;
      const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
      const busy = user + nice + system + irq + softirq + steal;
      return { busy, total: busy + idle + iowait };
    } catch {
      return undefined;
    }
  };
  const before = readBusy();
  const ownBefore = process.cpuUsage();
  return {
    othersShare() {
      const after = readBusy();
      if (before === undefined || after === undefined || after.total <= before.total) return undefined;
      const own = process.cpuUsage(ownBefore);
      // /proc/stat counts in USER_HZ ticks (1/100 s on Linux); cpuUsage in µs.
      const ownTicks = (own.user + own.system) / 10_000;
      return Math.max(0, (after.busy - before.busy - ownTicks) / (after.total - before.total));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Kernel

/**
 * benchKernel's rows, with the target on the engine the pool runs (wasm): ≥ 8 M/s and ≥ 10× the faster
 * of the two node:crypto pipelines measured beside it (the stricter comparison).
 */
async function kernelRows(opts: Options): Promise<BenchRow[]> {
  const rows = await benchKernel(opts);
  const baselines = rows.filter((row) => row.name.startsWith("kernel baseline"));
  const fastest = baselines.reduce((a, b) => (b.value > a.value ? b : a));
  return rows.map((row) => {
    if (!row.name.includes("wasm")) return row;
    return {
      ...row,
      baseline: fastest.value,
      ratio: row.value / fastest.value,
      baselineName: fastest.name.replace("kernel baseline: ", ""),
      targets: [
        { of: "value", op: ">=", limit: 8e6 },
        { of: "ratio", op: ">=", limit: 10 },
      ],
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Scaling

/** Candidates per second of one never-matching search through a pool of `workers`, to a fixed budget. */
async function poolRate(workers: number, budget: number): Promise<number> {
  const pool = new SearchPool({ workers, maxQueued: 1, maxPerClient: 0 });
  try {
    // Warm-up: compiles the wasm module in every worker and lets the slice sizer tune itself.
    await drainToBudget(
      pool.search(AbortSignal.timeout(WAIT_MS), { query: NEVER, budget: 4_000_000, client: "w" }),
    );
    const began = performance.now();
    await drainToBudget(pool.search(AbortSignal.timeout(WAIT_MS * 4), { query: NEVER, budget, client: "m" }));
    return budget / ((performance.now() - began) / 1000);
  } finally {
    await pool.close();
  }
}

/** Reads a never-matching search to its end, which must be the budget. */
async function drainToBudget(run: SearchRun): Promise<void> {
  try {
    for await (const hit of run) throw new Error(`never-matching search hit candidate ${hit.index}`);
  } catch (error) {
    if (ConnectError.from(error).code === Code.ResourceExhausted) return;
    throw error;
  }
  throw new Error("never-matching search ended without reaching its budget");
}

async function scalingRow(opts: Options, workers: number): Promise<BenchRow> {
  const budget = opts.quick ? 50_000_000 : 200_000_000;
  const one = await poolRate(1, budget);
  const many = workers === 1 ? one : await poolRate(workers, budget);
  return {
    name: `pool: one search on ${workers} workers (${budget / 1e6} M candidates)`,
    value: many,
    unit: "candidates/s",
    baseline: one,
    ratio: many / one,
    baselineName: "1 worker",
    targets: [{ of: "ratio", op: ">=", limit: 0.9 * workers }],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Servers

interface BenchServer {
  readonly server: CancelkitServer;
  readonly client: ReturnType<typeof createClient<typeof HashFinder>>;
  close(): Promise<void>;
}

/** A real server on 127.0.0.1:0 (no hash budget, no per-client share) and a gRPC client for it. */
async function startBenchServer(workers: number, maxRunning = 4 * workers): Promise<BenchServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-bench-"));
  const server = await startServer(
    {
      ...defaultServerOptions(),
      port: 0,
      workers,
      maximumHashes: 0,
      maxRunning,
      maxQueued: 16,
      maxPerClient: 0,
      graceMs: 0,
      dataDir,
    },
    silentLogger,
  );
  const client = createClient(
    HashFinder,
    // The CLI's transport (TCP_NODELAY, like grpc-go and grpcio clients).
    transportFor(`127.0.0.1:${server.port}`),
  );
  return {
    server,
    client,
    async close() {
      await server.shutdown(0);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function withServer<T>(
  workers: number,
  maxRunning: number | undefined,
  body: (s: BenchServer) => Promise<T>,
): Promise<T> {
  const s = await startBenchServer(workers, maxRunning);
  try {
    return await body(s);
  } finally {
    await s.close();
  }
}

/** The error a call ended with (it must end with one). */
async function failureOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("the call was expected to fail");
}

/** Yields to the event loop (I/O included) until `ready()` holds, for at most WAIT_MS. */
async function until(what: string, ready: () => boolean): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`bench: timed out waiting until ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// End to end: Find("doctor", 0)

/** Wall times (ms) of `runs` Find("doctor", 0) calls; each must answer pO0G. */
async function doctorTimes(workers: number, runs: number): Promise<number[]> {
  return withServer(workers, undefined, async ({ client }) => {
    const times: number[] = [];
    for (let run = 0; run < runs; run++) {
      const began = performance.now();
      const answer = await client.find(
        { desiredName: "doctor", idealHammingDistance: 0 },
        { signal: AbortSignal.timeout(WAIT_MS) },
      );
      times.push(performance.now() - began);
      if (answer.secret !== DOCTOR_SECRET) {
        throw new Error(
          `Find("doctor", 0) on ${workers} worker(s) answered secret ${JSON.stringify(answer.secret)}, expected ${DOCTOR_SECRET}`,
        );
      }
    }
    return times;
  });
}

async function doctorRow(opts: Options, workers: number): Promise<BenchRow> {
  const runs = opts.quick ? 1 : 3;
  const many = await doctorTimes(workers, runs);
  const one = await doctorTimes(1, runs);
  const value = median(many);
  const baseline = median(one);
  const list = (times: number[]) => times.map((t) => t.toFixed(0)).join(", ");
  return {
    name: `Find("doctor", 0) over gRPC, ${workers} workers (answer ${DOCTOR_SECRET} checked)`,
    value,
    unit: "ms",
    baseline,
    ratio: value / baseline,
    baselineName: "same call, 1 worker",
    // Every run must meet it, the first (cold) one included.
    targets: [{ of: "value", op: "<", limit: 1000 }],
    note: `median of ${runs}, first call on a fresh server included; runs ${list(many)} ms; 1 worker ${list(one)} ms`,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Cancellation

interface CancelTiming {
  /** abort() → the last worker out of the kernel, with the search ended on the server (the figure). */
  toStopped: number;
  /** abort() → abort() returned: the client library's own work, on the thread the server shares. */
  clientAbort: number;
  /** abort() → the server call's signal aborted (HTTP/2 RST_STREAM read, Connect handler told). */
  toServerSignal: number;
  /** abort() → every slice of the search has replied to the pool. */
  toIdle: number;
  /** When abort() was called (performance.now()), to match the trial with GC pauses of this thread. */
  began: number;
}

/**
 * One trial: a never-matching Find runs on every worker; the client aborts; the clock runs from just before
 * abort() to the moment the search has ended on the server and no worker is inside the kernel, observed on the
 * event loop (woken by the workers' own notify), so it is an upper bound. Client and server share this thread,
 * as in the tests: the client's abort work is inside the figure. Returns ms.
 */
async function cancelOnce(
  s: BenchServer,
  workers: number,
  serverAborted: () => number,
): Promise<CancelTiming> {
  const pool = s.server.pool;
  const abort = new AbortController();
  const call = failureOf(s.client.find({ desiredName: NEVER_NAME }, { signal: abort.signal }));
  await pool.whenExecuting(AbortSignal.timeout(WAIT_MS));
  await until("every worker is in the kernel", () => pool.executing() === workers);

  const began = performance.now();
  abort.abort();
  const clientAbort = performance.now() - began;
  await untilSearchStopped(pool);
  const toStopped = performance.now() - began;
  await pool.whenIdle();
  const toIdle = performance.now() - began;

  const error = await call;
  if (error.code !== Code.Canceled) throw new Error(`cancelled call ended with ${Code[error.code]}`);
  return { toStopped, clientAbort, toServerSignal: serverAborted() - began, toIdle, began };
}

/**
 * Resolves once the search has ended on the server and no worker is inside the kernel, observed on the event loop
 * (woken by the workers' own notify on leaving the kernel): the clock of both cancel figures.
 */
async function untilSearchStopped(pool: SearchPool): Promise<void> {
  const deadline = AbortSignal.timeout(WAIT_MS);
  for (;;) {
    await pool.whenNoneExecuting(deadline);
    // Between two slices the count can touch 0 while the search still runs: only count it once it has ended.
    if (pool.stats().running === 0 && pool.executing() === 0) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Records the runs the service starts and when each one's signal aborts (bench-only instrumentation). */
function observeSearches(pool: SearchPool): {
  runs: SearchRun[];
  lastAbortAt: () => number;
  restore(): void;
} {
  const runs: SearchRun[] = [];
  let abortedAt = Number.NaN;
  const search = pool.search.bind(pool);
  pool.search = (signal, request) => {
    signal.addEventListener("abort", () => {
      abortedAt = performance.now();
    });
    const run = search(signal, request);
    runs.push(run);
    return run;
  };
  return {
    runs,
    lastAbortAt: () => abortedAt,
    // Own property shadows the prototype method: deleting it restores the pool.
    restore: () => delete (pool as Partial<Pick<SearchPool, "search">>).search,
  };
}

/**
 * Queued calls cancelled before they run: with one running place taken by a never-matching search, `queued`
 * calls wait; the client aborts them; returns the slices ever started for them (must be 0).
 */
async function cancelQueued(s: BenchServer, queued: number): Promise<number> {
  const pool = s.server.pool;
  const observed = observeSearches(pool);
  const runs = observed.runs;
  try {
    const holder = new AbortController();
    const running = failureOf(s.client.find({ desiredName: NEVER_NAME }, { signal: holder.signal }));
    await pool.whenExecuting(AbortSignal.timeout(WAIT_MS));
    const waiting = new AbortController();
    const calls: Promise<ConnectError>[] = [];
    for (let i = 0; i < queued; i++) {
      calls.push(failureOf(s.client.find({ desiredName: `${NEVER_NAME}${i}` }, { signal: waiting.signal })));
    }
    await until("the calls are queued", () => pool.stats().queued === queued);
    // Let the running search take several more slices while they wait.
    const slices = pool.stats().slicesStarted;
    await until("the running search progresses", () => pool.stats().slicesStarted >= slices + 4);
    waiting.abort();
    for (const error of await Promise.all(calls)) {
      if (error.code !== Code.Canceled) throw new Error(`queued call ended with ${Code[error.code]}`);
    }
    await until("the queue is empty", () => pool.stats().queued === 0);
    holder.abort();
    await running;
    await pool.whenIdle();
    if (runs.length !== queued + 1) throw new Error(`expected ${queued + 1} searches, saw ${runs.length}`);
    return runs.slice(1).reduce((sum, run) => sum + run.slicesStarted, 0);
  } finally {
    observed.restore();
  }
}

async function cancelRows(opts: Options, workers: number): Promise<BenchRow[]> {
  const trials = opts.quick ? 50 : 200;
  const queuedTrials = opts.quick ? 5 : 20;
  return withServer(workers, 1, async (s) => {
    const timings: CancelTiming[] = [];
    const observed = observeSearches(s.server.pool);
    // GC pauses of this thread (the server's event loop, which the client shares), to explain slow trials.
    const pauses: Array<{ start: number; end: number }> = [];
    const gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        pauses.push({ start: entry.startTime, end: entry.startTime + entry.duration });
    });
    gcObserver.observe({ entryTypes: ["gc"] });
    try {
      // A few calls first so that the wasm module, the slice sizer and the HTTP/2 session are warm.
      for (let warm = 0; warm < 3; warm++) await cancelOnce(s, workers, observed.lastAbortAt);
      for (let trial = 0; trial < trials; trial++)
        timings.push(await cancelOnce(s, workers, observed.lastAbortAt));
    } finally {
      observed.restore();
      gcObserver.disconnect();
    }
    const slow = timings.filter((t) => t.toStopped > 2);
    const slowInGc = slow.filter((t) =>
      pauses.some((p) => p.start < t.began + t.toStopped && p.end > t.began),
    );
    const stopped = timings.map((t) => t.toStopped);
    const stat = (pick: (t: CancelTiming) => number) => {
      const values = timings.map(pick);
      return `p50 ${fmt(percentile(values, 50))} / p99 ${fmt(percentile(values, 99))} ms`;
    };
    let queuedSlices = 0;
    for (let trial = 0; trial < queuedTrials; trial++) queuedSlices += await cancelQueued(s, 2);

    const name = (stat: string) =>
      `cancel → last worker out of the kernel, ${stat} (${trials} trials, in-process connect-node client on the server's thread: worst case)`;
    const spread =
      `of which: client abort() itself ${stat((t) => t.clientAbort)}; until the server's call signal aborts ` +
      `${stat((t) => t.toServerSignal)}; until every slice has replied ${stat((t) => t.toIdle)}; ` +
      `trials over 2 ms: ${slow.length}, of which ${slowInGc.length} overlap a GC pause of the server's thread`;
    return [
      { name: name("p50"), value: percentile(stopped, 50), unit: "ms", note: spread },
      {
        name: name("p99"),
        value: percentile(stopped, 99),
        unit: "ms",
        targets: [{ of: "value", op: "<=", limit: 2 }],
      },
      { name: name("max"), value: Math.max(...stopped), unit: "ms" },
      {
        name: `queued calls cancelled before running: slices started for them (${queuedTrials * 2} calls)`,
        value: queuedSlices,
        unit: "slices",
        targets: [{ of: "value", op: "<=", limit: 0 }],
      },
    ];
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Cancellation from a separate client process (grpc-go)

/** A line of the Go probe's cancel-loop (test/interop/go/main.go). */
interface CancelLoopLine {
  trial?: number;
  started?: boolean;
  /** The wall clock just before the probe's cancel(). */
  cancelAtUnixMicros?: number;
  code?: string;
  details?: string;
}

/** Now on the wall clock (CLOCK_REALTIME, as Go's time.Now() reads it on the same machine), in µs. */
function wallMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/**
 * The cancel figure with the client where real clients are: grpc-go in its own process (test/interop/go, scenario
 * cancel-loop). Per trial the probe starts a never-matching Find; once every worker is in the kernel it is told
 * "go" and cancels its context; the clock runs from its time.Now() just before cancel() to the moment the server's
 * event loop sees the search ended and no worker in the kernel (the clock of the in-process figure). Skipped, with
 * the reason, without the Go toolchain and packaged grpc-go sources.
 */
async function cancelGoRows(opts: Options, workers: number): Promise<BenchRow[]> {
  const trials = opts.quick ? 50 : 200;
  const warmUps = 3;
  const client = "grpc-go client in its own process";
  const lookup = findGoToolchain();
  if (lookup.toolchain === undefined) {
    return [{ name: `cancel (${client}): skipped`, value: 0, unit: "trials", note: lookup.skip }];
  }
  const built = await buildGoProbe(lookup.toolchain);
  try {
    const timings = await withServer(workers, 1, async (s) => {
      const probe = startGoProbe(
        built.binary,
        `127.0.0.1:${s.server.port}`,
        ["cancel-loop", String(warmUps + trials)],
        { timeoutMs: WAIT_MS * 4 },
      );
      const observed = observeSearches(s.server.pool);
      try {
        const timings = await driveCancelLoop(
          probe.child,
          s.server.pool,
          workers,
          warmUps + trials,
          observed.lastAbortAt,
        );
        await probe.result; // exits 0 once its stdin is closed after the last trial
        return timings;
      } finally {
        observed.restore();
        probe.kill();
      }
    });
    const measured = timings.slice(warmUps);
    const stopped = measured.map((t) => t.toStopped);
    const stat = (values: number[]) =>
      `p50 ${fmt(percentile(values, 50))} / p99 ${fmt(percentile(values, 99))} ms`;
    const name = (stat: string) =>
      `cancel → last worker out of the kernel, ${stat} (${trials} trials, ${client})`;
    return [
      {
        name: name("p50"),
        value: percentile(stopped, 50),
        unit: "ms",
        note:
          `from grpc-go's time.Now() before cancel() to the server's event loop seeing no worker in the kernel, ` +
          `both on CLOCK_REALTIME; of which until the server's call signal aborts ` +
          `${stat(measured.map((t) => t.toServerSignal))}; probe built in ${(built.generateMs + built.buildMs).toFixed(0)} ms ` +
          `(protoc + go build, before the trials); "other processes" below include that build and the client`,
      },
      {
        name: name("p99"),
        value: percentile(stopped, 99),
        unit: "ms",
        targets: [{ of: "value", op: "<=", limit: 2 }],
      },
      { name: name("max"), value: Math.max(...stopped), unit: "ms" },
    ];
  } finally {
    await built.remove();
  }
}

/** ms from the client's cancel() (its wall clock) to events on the server (its wall clock, same machine). */
interface RemoteCancelTiming {
  /** … to the last worker out of the kernel with the search ended (the figure). */
  toStopped: number;
  /** … to the server call's signal aborting (RST_STREAM read, Connect handler told). */
  toServerSignal: number;
}

/**
 * Runs the probe's trials: "start" → it starts a Find; every worker in the kernel → "go"; the search stopped →
 * the stop time less the probe's cancel time. The next trial starts only once the pool is idle, so that a search
 * never overlaps the stop of the one before. `serverAborted` is when (performance.now()) the last call's signal
 * aborted.
 */
async function driveCancelLoop(
  child: ChildProcess,
  pool: SearchPool,
  workers: number,
  trials: number,
  serverAborted: () => number,
): Promise<RemoteCancelTiming[]> {
  const { stdin, stdout } = child;
  if (stdin === null || stdout === null) throw new Error("the probe has no stdin/stdout pipe");
  const lines = createInterface({ input: stdout })[Symbol.asyncIterator]();
  const nextLine = async (trial: number): Promise<CancelLoopLine> => {
    const next = await lines.next();
    if (next.done === true) throw new Error(`the Go probe exited during trial ${trial}`);
    const line = JSON.parse(next.value) as CancelLoopLine;
    if (line.trial !== trial) throw new Error(`expected trial ${trial} from the Go probe, got ${next.value}`);
    return line;
  };
  const timings: RemoteCancelTiming[] = [];
  for (let trial = 0; trial < trials; trial++) {
    stdin.write("start\n");
    await nextLine(trial); // {"started": true}
    await pool.whenExecuting(AbortSignal.timeout(WAIT_MS));
    await until("every worker is in the kernel", () => pool.executing() === workers);
    stdin.write("go\n");
    await untilSearchStopped(pool);
    const stoppedAt = wallMicros();
    const ended = await nextLine(trial);
    if (ended.code !== "Canceled" || ended.cancelAtUnixMicros === undefined) {
      throw new Error(`trial ${trial}: the grpc-go call ended with ${JSON.stringify(ended)}`);
    }
    const toStopped = (stoppedAt - ended.cancelAtUnixMicros) / 1000;
    // The search cannot stop before the cancel: a negative span means the two clocks disagree (a clock step).
    if (toStopped < 0)
      throw new Error(`trial ${trial}: the search stopped ${-toStopped} ms before grpc-go cancelled`);
    const signalAt = (performance.timeOrigin + serverAborted()) * 1000;
    timings.push({ toStopped, toServerSignal: (signalAt - ended.cancelAtUnixMicros) / 1000 });
    await pool.whenIdle();
  }
  stdin.end();
  return timings;
}

// ---------------------------------------------------------------------------------------------------------------
// Fairness

/** Latencies (ms) of `trials` sequential Find("aa", 0) calls. */
async function shortCallTimes(s: BenchServer, trials: number): Promise<number[]> {
  const times: number[] = [];
  for (let trial = 0; trial < trials; trial++) {
    const began = performance.now();
    await s.client.find(
      { desiredName: "aa", idealHammingDistance: 0 },
      { signal: AbortSignal.timeout(WAIT_MS) },
    );
    times.push(performance.now() - began);
  }
  return times;
}

async function fairnessRows(opts: Options, workers: number): Promise<BenchRow[]> {
  const trials = opts.quick ? 30 : 100;
  return withServer(workers, undefined, async (s) => {
    await shortCallTimes(s, 5); // warm-up: session, wasm, slice sizer
    const idle = await shortCallTimes(s, trials);

    const long = new AbortController();
    const running = failureOf(s.client.find({ desiredName: NEVER_NAME }, { signal: long.signal }));
    let loaded: number[];
    try {
      await s.server.pool.whenExecuting(AbortSignal.timeout(WAIT_MS));
      // Let the slice sizer settle on the long search's ~4 ms slices before measuring.
      const slices = s.server.pool.stats().slicesStarted;
      await until(
        "the long search runs tuned slices",
        () => s.server.pool.stats().slicesStarted >= slices + 20,
      );
      loaded = await shortCallTimes(s, trials);
      if (s.server.pool.stats().running !== 1)
        throw new Error("the long search ended during the measurement");
    } finally {
      long.abort();
    }
    await running;
    await s.server.pool.whenIdle();

    const name = (stat: string) => `Find("aa", 0) while an unbounded search runs, ${stat} (${trials} calls)`;
    const row = (stat: string, p: number): BenchRow => {
      const value = percentile(loaded, p);
      const baseline = percentile(idle, p);
      return {
        name: name(stat),
        value,
        unit: "ms",
        baseline,
        ratio: value / baseline,
        baselineName: "idle server",
      };
    };
    return [
      row("p50", 50),
      {
        ...row("p99", 99),
        targets: [{ of: "value", op: "<", limit: 50 }],
        note: `max ${fmt(Math.max(...loaded))} ms`,
      },
    ];
  });
}

// ---------------------------------------------------------------------------------------------------------------

function median(values: number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

function fmt(ms: number): string {
  return ms < 10 ? ms.toFixed(3) : ms.toFixed(1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const only = process.argv.slice(2).filter((arg): arg is Section => arg in SECTIONS);
  for (const row of await benchSearch({ quick: process.argv.includes("--quick") }, only)) {
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
}
