/**
 * The messages between the SQLite store (event loop) and its writer thread (sqlite-writer.ts), and how an error
 * crosses between them: a structured clone keeps an Error's message and stack but not its class or its own
 * properties, so a refused write (NOT_FOUND, ALREADY_EXISTS) and node:sqlite's error codes are carried by hand.
 * Free of Connect, as the writer thread is (refusals.ts).
 */
import type { Due } from "./due.ts";
import { WriteRefused } from "./refusals.ts";
import type { IssuedToken, NewUser, TaskUpdate } from "./task-store.ts";

/** What the writer thread needs to open its connection. */
export interface WriterInit {
  path: string;
  busyTimeoutMs: number;
  durability: "process" | "power-loss";
  maxBatchRows: number | undefined;
  /** Whether to report each batch (the store's onBatch option). */
  reportBatches: boolean;
}

/** One write; the writer runs it in its next group commit. */
export type WriteOp =
  | { kind: "addTask"; userId: bigint; description: string; due: Due }
  | { kind: "updateTasks"; userId: bigint; updates: readonly TaskUpdate[] }
  | { kind: "deleteTask"; userId: bigint; id: bigint }
  | { kind: "createUser"; name: string }
  | { kind: "issueToken"; name: string };

/** What each write resolves with. */
export interface WriteResults {
  addTask: bigint;
  updateTasks: undefined;
  deleteTask: undefined;
  createUser: NewUser;
  issueToken: IssuedToken;
}

export type ToWriter =
  /** The writes asked for in one turn of the event loop, in order: the writer runs them in its next group commit. */
  | { type: "writes"; writes: Array<{ id: number; op: WriteOp }> }
  /** The caller's signal aborted: drop the write if it has not started (answered `cancelled`). */
  | { type: "cancel"; id: number }
  /** Commit what is queued, close the connection, answer `closed`. */
  | { type: "close" };

/** What happened to the writes, in order; a batch's report comes before its writes' answers. */
export type WriterEvent =
  | { type: "done"; id: number; value: unknown }
  | { type: "failed"; id: number; error: CarriedError }
  | { type: "cancelled"; id: number }
  | { type: "batch"; writes: number; rows: number };

export type FromWriter =
  | { type: "ready" }
  | { type: "failedToOpen"; error: CarriedError }
  /** The events of one turn of the writer in one message: a message per write cost more than the write. */
  | { type: "events"; events: WriterEvent[] }
  | { type: "closed" };

export type CarriedError =
  | { refused: true; grpcCode: number; message: string }
  | {
      refused: false;
      name: string;
      message: string;
      stack: string | undefined;
      props: Record<string, unknown>;
    };

/** node:sqlite's own fields on its errors (code ERR_SQLITE_ERROR, errcode, errstr), kept across the thread. */
const CARRIED_PROPS = ["code", "errcode", "errstr"];

export function carryError(error: unknown): CarriedError {
  if (error instanceof WriteRefused)
    return { refused: true, grpcCode: error.grpcCode, message: error.message };
  if (!(error instanceof Error)) {
    return { refused: false, name: "Error", message: String(error), stack: undefined, props: {} };
  }
  const props: Record<string, unknown> = {};
  for (const key of CARRIED_PROPS) {
    const value = (error as unknown as Record<string, unknown>)[key];
    if (typeof value === "string" || typeof value === "number") props[key] = value;
  }
  return { refused: false, name: error.name, message: error.message, stack: error.stack, props };
}

/** The error as it was thrown; a refused write as a WriteRefused (errors.ts makes it the client's ConnectError). */
export function uncarryError(carried: CarriedError): Error {
  if (carried.refused) return new WriteRefused(carried.message, carried.grpcCode);
  const error = Object.assign(new Error(carried.message), carried.props);
  error.name = carried.name;
  if (carried.stack !== undefined) error.stack = carried.stack;
  return error;
}

/** The writer thread ended without being asked to: every write waiting on it fails with this. */
export function writerStopped(detail: string): Error {
  return new Error(`the task store's writer thread stopped: ${detail}`);
}
