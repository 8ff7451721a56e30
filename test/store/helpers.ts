/** Shared fixtures for the store tests: temp data dirs and the stores under test. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { MemoryTaskStore } from "../../src/store/memory.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import type { TaskStore } from "../../src/store/task-store.ts";

/** A fresh directory under the OS temp dir, removed when the test file finishes. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "cancelkit-store-"));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface StoreKind {
  name: string;
  open(): Promise<TaskStore>;
}

export const storeKinds: readonly StoreKind[] = [
  { name: "sqlite", open: async () => openSqliteStore(await tempDir()) },
  { name: "memory", open: async () => new MemoryTaskStore() },
];

/** A signal that never aborts. */
export const never = new AbortController().signal;

/** A due date far in the future, so it is valid whenever the test runs. */
export const FAR_DUE = { seconds: 4_102_444_800n, nanos: 0 }; // 2100-01-01

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
