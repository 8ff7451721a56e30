/**
 * TodoService through the real server over gRPC (h2c): AddTask calls/s with 64 in flight, and ListTasks tasks/s
 * streaming a long list, each against the SQLite store and, as the same-run baseline, the in-memory store.
 * The server runs on this thread; the client runs in a worker thread, so each has its own event loop.
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

/** Starts a server on `store` (or SQLite in a temp dir), fills it to `listed` tasks, runs the client worker. */
async function measure(store: TaskStore | undefined, adds: number, listed: number): Promise<ClientResult> {
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
  } finally {
    await server.shutdown(0);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** AddTask calls/s (64 in flight) and ListTasks tasks/s, SQLite against the in-memory baseline. */
export async function benchTodo(opts: { quick: boolean }): Promise<BenchRow[]> {
  // --quick must finish in under 30 s; on 2026-12-02 this section's 3,000 adds per store made it 27–28 s.
  const adds = opts.quick ? 1_500 : 30_000;
  const listed = opts.quick ? 20_000 : 200_000;
  const memory = await measure(new MemoryTaskStore(), adds, listed);
  const sqlite = await measure(undefined, adds, listed);
  const row = (name: string, unit: string, value: number, baseline: number): BenchRow => ({
    name,
    value: Math.round(value),
    unit,
    baseline: Math.round(baseline),
    ratio: Math.round((value / baseline) * 100) / 100,
  });
  return [
    row(
      `todo AddTask, ${IN_FLIGHT} in flight (SQLite vs memory)`,
      "calls/s",
      sqlite.addsPerSecond,
      memory.addsPerSecond,
    ),
    row(
      `todo ListTasks, ${listed} tasks (SQLite vs memory)`,
      "tasks/s",
      sqlite.tasksPerSecond,
      memory.tasksPerSecond,
    ),
  ];
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await benchTodo({ quick: process.argv.includes("--quick") });
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(52)} ${r.value.toLocaleString("en").padStart(10)} ${r.unit}   baseline ${r.baseline?.toLocaleString("en")}   ratio ${r.ratio}`,
    );
  }
}
