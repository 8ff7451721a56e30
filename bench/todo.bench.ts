/**
 * TodoService through the real server over gRPC (h2c): AddTask calls/s with 64 in flight, and ListTasks tasks/s
 * streaming a long list, each against the SQLite store and, as the same-run baseline, the in-memory store.
 * The server runs on this thread. Two clients, each in turn: connect-node in a worker thread (its own event
 * loop, sharing this process), and grpc-go in its own process (test/interop/go, scenario todo-load), the kind of
 * client the reference figures come from, which costs the server's cores less.
 * `node bench/todo.bench.ts [--quick]` prints the rows; bench/main.ts imports benchTodo.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TodoService } from "../src/gen/todo/v2/todo_pb.ts";
import { startServer } from "../src/server/create-server.ts";
import { silentLogger } from "../src/server/log.ts";
import { defaultServerOptions } from "../src/server/options.ts";
import { readTokenFile, tokenPath } from "../src/store/bootstrap.ts";
import { MemoryTaskStore } from "../src/store/memory.ts";
import type { TaskStore } from "../src/store/task-store.ts";
import { buildGoProbe, findGoToolchain, startGoProbe } from "../test/interop/go-probe.ts";
import type { BenchRow } from "./rows.ts";

const IN_FLIGHT = 64;
const DUE = { seconds: 4_102_444_800n, nanos: 123_456_789 };
const DESCRIPTION = "a task with a typical short description";

interface ClientJob {
  role: "todo-bench-client";
  address: string;
  token: string;
  adds: number;
  listed: number;
}

interface ClientResult {
  addsPerSecond: number;
  tasksPerSecond: number;
}

/** The load generator, in the worker: adds with 64 in flight, then one full listing. */
async function runClient(job: ClientJob): Promise<ClientResult> {
  const client = createClient(
    TodoService,
    createGrpcTransport({
      baseUrl: `http://${job.address}`,
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${job.token}`);
          return next(req);
        },
      ],
    }),
  );
  // Warm-up: connection, JIT.
  for (let i = 0; i < 200; i++) await client.addTask({ description: DESCRIPTION, dueDate: DUE });
  let started = 0;
  const addsStart = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (started < job.adds) {
        started++;
        await client.addTask({ description: DESCRIPTION, dueDate: DUE });
      }
    }),
  );
  const addsPerSecond = job.adds / ((performance.now() - addsStart) / 1000);

  let listed = 0;
  const listStart = performance.now();
  for await (const _ of client.listTasks({})) listed++;
  const tasksPerSecond = listed / ((performance.now() - listStart) / 1000);
  if (listed < job.listed) throw new Error(`listed ${listed}, expected at least ${job.listed}`);
  return { addsPerSecond, tasksPerSecond };
}

if (!isMainThread && (workerData as ClientJob | undefined)?.role === "todo-bench-client") {
  runClient(workerData as ClientJob).then(
    (result) => parentPort?.postMessage(result),
    (error: unknown) => {
      throw error;
    },
  );
}

/** Runs a client's load against the server at `address`: 200 adds to warm up, `adds` timed, one full listing. */
type LoadClient = (job: ClientJob) => Promise<ClientResult>;

/** The connect-node client, in a worker thread of this process. */
async function workerClient(job: ClientJob): Promise<ClientResult> {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: job });
  try {
    return await new Promise<ClientResult>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`bench client exited with ${code}`)));
    });
  } finally {
    await worker.terminate();
  }
}

/** The grpc-go client: the probe built from test/interop/go, in its own process. */
function goClient(binary: string): LoadClient {
  return async (job) => {
    const probe = startGoProbe(binary, job.address, ["todo-load", String(job.adds), String(IN_FLIGHT)], {
      token: job.token,
      timeoutMs: 600_000,
    });
    const result = await probe.result;
    const { addsPerSecond, tasksPerSecond, listed } = result;
    if (typeof addsPerSecond !== "number" || typeof tasksPerSecond !== "number" || typeof listed !== "number")
      throw new Error(`the Go probe's todo-load failed: ${JSON.stringify(result)}`);
    if (listed < job.listed)
      throw new Error(`the Go probe listed ${listed}, expected at least ${job.listed}`);
    return { addsPerSecond, tasksPerSecond };
  };
}

/** Starts a server on `store` (or SQLite in a temp dir), fills it to `listed` tasks, runs the client. */
async function measure(
  store: TaskStore | undefined,
  adds: number,
  listed: number,
  client: LoadClient,
): Promise<ClientResult> {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-bench-todo-"));
  const server = await startServer(
    { ...defaultServerOptions(), port: 0, workers: 1, dataDir },
    silentLogger,
    store === undefined ? {} : { store },
  );
  try {
    const token = await readTokenFile(tokenPath(dataDir));
    const userId = await server.store.userForToken(new AbortController().signal, token);
    if (userId === undefined) throw new Error("the local user is missing");
    // The listing's tasks go straight into the store (the add figure is measured separately).
    const fill = listed - adds - 200;
    const signal = new AbortController().signal;
    let added = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (added < fill) {
          added++;
          await server.store.addTask(signal, userId, DESCRIPTION, DUE);
        }
      }),
    );
    const job: ClientJob = {
      role: "todo-bench-client",
      address: `127.0.0.1:${server.port}`,
      token,
      adds,
      listed,
    };
    return await client(job);
  } finally {
    await server.shutdown(0);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** AddTask calls/s and ListTasks tasks/s for one client, SQLite against the in-memory baseline. */
async function clientRows(
  client: LoadClient,
  who: string,
  adds: number,
  listed: number,
): Promise<BenchRow[]> {
  const memory = await measure(new MemoryTaskStore(), adds, listed, client);
  const sqlite = await measure(undefined, adds, listed, client);
  const row = (name: string, unit: string, value: number, baseline: number): BenchRow => ({
    name,
    value: Math.round(value),
    unit,
    baseline: Math.round(baseline),
    ratio: Math.round((value / baseline) * 100) / 100,
  });
  return [
    row(
      `todo AddTask, ${IN_FLIGHT} in flight, ${who} (SQLite vs memory)`,
      "calls/s",
      sqlite.addsPerSecond,
      memory.addsPerSecond,
    ),
    row(
      `todo ListTasks, ${listed} tasks, ${who} (SQLite vs memory)`,
      "tasks/s",
      sqlite.tasksPerSecond,
      memory.tasksPerSecond,
    ),
  ];
}

/** The todo figures with the connect-node client, then with grpc-go (skipped, with the reason, without Go). */
export async function benchTodo(opts: { quick: boolean }): Promise<BenchRow[]> {
  // --quick must finish in under 30 s; on 2026-12-02 this section's 3,000 adds per store made it 27–28 s.
  const adds = opts.quick ? 1_500 : 30_000;
  const listed = opts.quick ? 20_000 : 200_000;
  const rows = await clientRows(workerClient, "connect-node client in a worker thread", adds, listed);
  const lookup = findGoToolchain();
  if (lookup.toolchain === undefined) {
    return [...rows, { name: "todo (grpc-go client): skipped", value: 0, unit: "calls", note: lookup.skip }];
  }
  const built = await buildGoProbe(lookup.toolchain);
  try {
    return [
      ...rows,
      ...(await clientRows(goClient(built.binary), "grpc-go client in its own process", adds, listed)),
    ];
  } finally {
    await built.remove();
  }
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await benchTodo({ quick: process.argv.includes("--quick") });
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(52)} ${r.value.toLocaleString("en").padStart(10)} ${r.unit}   baseline ${r.baseline?.toLocaleString("en")}   ratio ${r.ratio}`,
    );
  }
}
