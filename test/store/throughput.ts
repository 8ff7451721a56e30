/**
 * Quick throughput check, not a test: addTask calls/s with 64 in flight and tasks/s listing 200,000 tasks, for
 * the SQLite store (both durability levels) and the memory baseline, in one process.
 * Run: node_modules/.bin/node test/store/throughput.ts [adds=50000] [rows=200000]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryTaskStore } from "../../src/store/memory.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import type { TaskStore } from "../../src/store/task-store.ts";

const ADDS = Number(process.argv[2] ?? 50_000);
const ROWS = Number(process.argv[3] ?? 200_000);
const IN_FLIGHT = 64;
const signal = new AbortController().signal;
const due = { seconds: 4_102_444_800n, nanos: 123 };

async function measureAdds(store: TaskStore, userId: bigint, total: number): Promise<number> {
  let started = 0;
  const t0 = performance.now();
  // 64 workers, each starting its next add as soon as the previous resolves: always 64 in flight.
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (started < total) {
        started++;
        await store.addTask(signal, userId, "a task with a typical short description", due);
      }
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

async function measureList(store: TaskStore, userId: bigint, expected: number): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  for await (const _ of store.listTasks(signal, userId)) n++;
  if (n !== expected) throw new Error(`listed ${n}, expected ${expected}`);
  return n / ((performance.now() - t0) / 1000);
}

async function run(name: string, open: () => Promise<TaskStore>, cleanup: () => Promise<void>) {
  const store = await open();
  const { userId } = await store.createUser(signal, "bench");
  const addsPerSecond = await measureAdds(store, userId, ADDS);
  await measureAdds(store, userId, ROWS - ADDS); // fill up to ROWS
  const rowsPerSecond = [];
  for (let i = 0; i < 3; i++) rowsPerSecond.push(await measureList(store, userId, ROWS));
  await store.close();
  await cleanup();
  const fmt = (x: number) => Math.round(x).toLocaleString("en");
  console.log(
    `${name.padEnd(22)} addTask ${fmt(addsPerSecond).padStart(9)}/s (64 in flight)   listTasks ${rowsPerSecond.map(fmt).join(" / ")} rows/s`,
  );
}

for (const durability of ["process", "power-loss"] as const) {
  const dir = await mkdtemp(join(tmpdir(), "cancelkit-throughput-"));
  await run(
    `sqlite (${durability})`,
    () => openSqliteStore(dir, { durability }),
    () => rm(dir, { recursive: true, force: true }),
  );
}
await run(
  "memory",
  async () => new MemoryTaskStore(),
  async () => {},
);
