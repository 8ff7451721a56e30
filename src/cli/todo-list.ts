/** Listing tasks: each printed for people or as JSON, and the stream cancelled at the first overdue task if asked. */
import { Code, ConnectError } from "@connectrpc/connect";
import type { ListTasksResponse } from "../gen/todo/v2/todo_pb.ts";
import type { Due } from "../store/due.ts";
import { formatDue } from "./due-date.ts";
import { stdoutRoom } from "./stdout-room.ts";
import type { TodoSession } from "./todo-session.ts";

function dueOf(task: ListTasksResponse["task"]): Due | undefined {
  return task?.dueDate === undefined
    ? undefined
    : { seconds: task.dueDate.seconds, nanos: task.dueDate.nanos };
}

const ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * A description for a terminal, one line per task: control characters shown as escapes. Printed as they were, a
 * newline split a task over two lines (`todo list | wc -l`, `| grep` saw two), and an ESC sequence stored in a
 * description drove the terminal (colours, clearing the screen).
 */
function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** One listed task, for people or as JSON; only the fields the mask kept (all when there is no mask). */
function describeTask(
  res: ListTasksResponse,
  fields: ReadonlySet<string> | undefined,
  json: boolean,
): string {
  const has = (field: string) => fields === undefined || fields.has(field);
  const task = res.task;
  const due = dueOf(task);
  if (json) {
    const out: Record<string, unknown> = {};
    if (has("id")) out.id = String(task?.id ?? 0n);
    if (has("description")) out.description = task?.description ?? "";
    if (has("done")) out.done = task?.done ?? false;
    if (has("due_date")) out.dueDate = due === undefined ? null : formatDue(due);
    out.overdue = res.overdue;
    return JSON.stringify(out);
  }
  const parts: string[] = [];
  if (has("id")) parts.push(`#${task?.id ?? 0n}`.padEnd(6));
  if (has("done")) parts.push(task?.done ? "[x]" : "[ ]");
  if (has("description")) parts.push(printable(task?.description ?? ""));
  if (has("due_date")) parts.push(due === undefined ? "no due date" : `due ${formatDue(due)}`);
  if (res.overdue) parts.push("OVERDUE");
  return parts.join("  ");
}

export interface ListOutcome {
  listed: number;
  /** The overdue task the listing was cancelled at, if it was. */
  stoppedAt?: bigint;
}

/**
 * Streams the tasks; with `cancelOnOverdue`, cancels the call (RST_STREAM CANCEL) right after printing the
 * first overdue task, so the server stops reading the store.
 */
export async function listTasks(
  s: TodoSession,
  options: { fields?: string[] | undefined; cancelOnOverdue: boolean },
): Promise<ListOutcome> {
  const stop = new AbortController();
  const signal = AbortSignal.any([s.signal, stop.signal]);
  const fields = options.fields === undefined ? undefined : new Set(options.fields);
  const outcome: ListOutcome = { listed: 0 };
  try {
    const mask = options.fields === undefined ? undefined : { paths: options.fields };
    for await (const res of s.client.listTasks({ mask }, s.call(signal))) {
      // Messages already buffered may still arrive after a cancel: print nothing more.
      if (signal.aborted) break;
      outcome.listed++;
      process.stdout.write(`${describeTask(res, fields, s.json)}\n`);
      if (options.cancelOnOverdue && res.overdue) {
        outcome.stoppedAt = res.task?.id ?? 0n;
        stop.abort(new ConnectError("stopped at the first overdue task", Code.Canceled));
        break;
      }
      await stdoutRoom(signal);
    }
  } catch (error) {
    if (outcome.stoppedAt === undefined || s.signal.aborted) throw error;
  } finally {
    // Leaving a stream early must cancel it, or the HTTP/2 stream stays open and the server keeps going.
    stop.abort();
  }
  if (s.signal.aborted) throw s.signal.reason;
  return outcome;
}
