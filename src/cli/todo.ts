/**
 * `cancelkit todo …`: the TodoService from the command line — add, list (optionally stopping the stream at the
 * first overdue task), update several tasks in one stream, delete in lock-step, and the book's demo. Every call
 * carries Ctrl-C's signal, --timeout's deadline, and the bearer token.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { delay, refTimeout } from "../abort.ts";
import { formatDuration } from "../duration.ts";
import { unauthenticated } from "../errors.ts";
import { type ListTasksResponse, TodoService } from "../gen/todo/v2/todo_pb.ts";
import { tokenPath } from "../store/bootstrap.ts";
import type { Due } from "../store/due.ts";
import { type DemoServer, startDemoServer } from "./demo-server.ts";
import { formatDue, parseDue } from "./due-date.ts";
import { describeFailure } from "./exit-codes.ts";
import { DEFAULT_SERVER, parseTimeout, TIMEOUT_RANGE, transportFor } from "./transport.ts";
import { UsageError } from "./usage-error.ts";

export const TODO_HELP = `Usage: cancelkit todo <command> [options]

Commands:
  add DESCRIPTION --due WHEN     add a task; WHEN is a duration from now (2h, 30m) or RFC 3339 (2026-12-01T10:00Z)
  list                           stream your tasks in id order
       [--fields id,description,done,due_date]  only these fields (a FieldMask)
       [--cancel-on-overdue]     cancel the stream at the first overdue task
  update ID [ID…]                change tasks, all in one stream, applied together or not at all
       [--description TEXT] [--due WHEN] [--done | --not-done]
  delete ID [ID…]                delete tasks one at a time, each printed once the server says it is durable
  demo                           the book's scenario: add three, list, update, list (cancelling the stream
                                 at the first overdue task), delete, list; without --server it starts a
                                 server of its own and shows what that server did with the cancelled call;
                                 with --server it deletes its 3000 filler tasks even when interrupted

Options:
  --server HOST:PORT   server address (default ${DEFAULT_SERVER})
  --timeout DURATION   deadline for each call, e.g. 500ms, 30s; 1ms to ${formatDuration(TIMEOUT_RANGE.maxMs)} (default: none)
  --token TOKEN        bearer token (default: $CANCELKIT_TOKEN, else the file DATA_DIR/token)
  --data-dir DIR       where the server wrote the local token (default ./data)
  --json               one JSON object per line on stdout (ids as strings, due dates in RFC 3339)
  -h, --help           this text

Ctrl-C cancels the running call and exits 130: a cancelled update applies nothing. A cancelled delete sends
no further ID and waits up to 2 s (a second Ctrl-C: no longer) for the answer to the delete in flight, so the
deletes applied are exactly those printed; if that answer does not come in time, it names the task whose
delete may have been applied. --timeout ends a delete the same way at its deadline (exit 4); the server is
given the deadline plus those 2 s, so that it does not cut off the last answer itself.
`;

const OPTIONS = {
  server: { type: "string" },
  timeout: { type: "string" },
  token: { type: "string" },
  "data-dir": { type: "string" },
  json: { type: "boolean" },
  due: { type: "string" },
  description: { type: "string" },
  done: { type: "boolean" },
  "not-done": { type: "boolean" },
  fields: { type: "string" },
  "cancel-on-overdue": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Which options each command accepts beyond the common ones. */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  add: ["due"],
  list: ["fields", "cancel-on-overdue"],
  update: ["description", "due", "done", "not-done"],
  delete: [],
  demo: [],
};
const COMMON = ["server", "timeout", "token", "data-dir", "json", "help"];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

interface Session {
  client: Client<typeof TodoService>;
  /** Options for every call: Ctrl-C's signal, the deadline, the token. */
  call(signal?: AbortSignal): {
    signal: AbortSignal;
    timeoutMs: number | undefined;
    headers: Record<string, string>;
  };
  signal: AbortSignal;
  json: boolean;
  /** The server's address, as HOST:PORT. */
  server: string;
  /** The demo's own server, when it started one: its call log can be read back. */
  demoServer?: DemoServer;
}

/**
 * The token: --token, else $CANCELKIT_TOKEN, else `<data-dir>/token` (written by the server on first start).
 * Throws UNAUTHENTICATED (exit 8) saying where it looked when there is none.
 */
export async function resolveToken(flag: string | undefined, dataDir: string): Promise<string> {
  if (flag !== undefined && flag !== "") return flag;
  const fromEnv = process.env.CANCELKIT_TOKEN;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const path = tokenPath(dataDir);
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw unauthenticated(
      `no token: pass --token, set CANCELKIT_TOKEN, or point --data-dir at the server's data dir (${path} does not exist)`,
    );
  }
}

/** The largest task id: the proto's `uint64 id`. A larger one cannot be put on the wire. */
const MAX_TASK_ID = 2n ** 64n - 1n;

function parseIds(texts: readonly string[]): bigint[] {
  if (texts.length === 0) throw new UsageError("give at least one task ID");
  return texts.map((text) => {
    if (!/^\d+$/.test(text) || BigInt(text) === 0n)
      throw new UsageError(`"${text}" is not a task ID (1, 2, …)`);
    const id = BigInt(text);
    if (id > MAX_TASK_ID) throw new UsageError(`task ID "${text}" must be from 1 to ${MAX_TASK_ID}`);
    return id;
  });
}

function dueOf(task: ListTasksResponse["task"]): Due | undefined {
  return task?.dueDate === undefined
    ? undefined
    : { seconds: task.dueDate.seconds, nanos: task.dueDate.nanos };
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
  if (has("description")) parts.push(task?.description ?? "");
  if (has("due_date")) parts.push(due === undefined ? "no due date" : `due ${formatDue(due)}`);
  if (res.overdue) parts.push("OVERDUE");
  return parts.join("  ");
}

async function add(s: Session, args: string[], values: Values): Promise<number> {
  const [description, ...extra] = args;
  if (description === undefined || extra.length > 0) {
    throw new UsageError('todo add takes one DESCRIPTION (quote it: "buy milk")');
  }
  if (values.due === undefined) throw new UsageError("todo add needs --due (e.g. --due 2h)");
  const due = parseDue(values.due, "--due");
  const { id } = await s.client.addTask({ description, dueDate: due }, s.call());
  process.stdout.write(s.json ? `${JSON.stringify({ id: String(id) })}\n` : `added task ${id}\n`);
  return 0;
}

interface ListOutcome {
  listed: number;
  /** The overdue task the listing was cancelled at, if it was. */
  stoppedAt?: bigint;
}

/**
 * Streams the tasks; with `cancelOnOverdue`, cancels the call (RST_STREAM CANCEL) right after printing the
 * first overdue task, so the server stops reading the store.
 */
async function listTasks(
  s: Session,
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

async function list(s: Session, args: string[], values: Values): Promise<number> {
  if (args.length > 0) throw new UsageError("todo list takes no arguments");
  const fields = values.fields?.split(",").map((f) => f.trim());
  const outcome = await listTasks(s, { fields, cancelOnOverdue: values["cancel-on-overdue"] === true });
  if (outcome.stoppedAt !== undefined) {
    process.stderr.write(
      `cancelled the listing at overdue task ${outcome.stoppedAt} after ${outcome.listed} task(s)\n`,
    );
  } else if (outcome.listed === 0 && !s.json) {
    process.stderr.write("no tasks\n");
  }
  return 0;
}

async function update(s: Session, args: string[], values: Values): Promise<number> {
  const ids = parseIds(args);
  if (values.done && values["not-done"]) throw new UsageError("--done and --not-done exclude each other");
  const done = values.done ? true : values["not-done"] ? false : undefined;
  const due = values.due === undefined ? undefined : parseDue(values.due, "--due");
  if (values.description === undefined && due === undefined && done === undefined) {
    throw new UsageError("todo update needs --description, --due, --done or --not-done");
  }
  if (values.description === "") throw new UsageError("--description must not be empty");
  async function* requests() {
    for (const id of ids) yield { id, description: values.description ?? "", done, dueDate: due };
  }
  await s.client.updateTasks(requests(), s.call());
  process.stdout.write(
    s.json
      ? `${JSON.stringify({ updated: ids.map(String) })}\n`
      : `updated ${ids.length === 1 ? "task" : "tasks"} ${ids.join(", ")}\n`,
  );
  return 0;
}

/**
 * How long a stopped delete stream (Ctrl-C, --timeout's deadline) waits for the answer to the delete it has in
 * flight before it aborts the call.
 */
const DELETE_DRAIN_MS = 2000;

/**
 * Aborts at the first Ctrl-C after `first` has aborted. main's handler turns the first Ctrl-C into the command
 * signal's abort and then stops listening; this listens for the next one. `dispose()` stops listening.
 */
function laterInterrupt(first: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => controller.abort(new ConnectError("a second Ctrl-C", Code.Canceled));
  // Added while the first SIGINT is being emitted, it is not called for that one.
  const arm = () => process.once("SIGINT", onSigint);
  if (first.aborted) arm();
  else first.addEventListener("abort", arm, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      first.removeEventListener("abort", arm);
      process.removeListener("SIGINT", onSigint);
    },
  };
}

/** The delete a stopped stream sent but never saw answered. */
interface Unanswered {
  id: bigint;
  /** Why there was no answer: the call was aborted before it came; the delete may or may not have been applied. */
  why?: string;
  /** The server answered with an error instead (e.g. NOT_FOUND): the delete was not applied. */
  failed?: ConnectError;
}

interface LockStepOptions {
  /** When it aborts, no further id is sent: the stream is half-closed and the answer in flight awaited. */
  stop: AbortSignal;
  /** Aborts the call at once, answer in flight or not (a second Ctrl-C). */
  abortNow: AbortSignal;
  /** The deadline the server is given for the call. */
  timeoutMs: number | undefined;
  onDeleted(id: bigint): void;
}

/**
 * Deletes `ids` in lock-step over one DeleteTasks stream: the next id goes only after the previous answer, so at
 * most one delete is unanswered at any time. When `stop` aborts, no further id is sent: the stream is half-closed
 * and read until the server ends it, so the answer to the delete in flight still arrives (the server finishes
 * the delete it has and ends the call normally). Only if that takes longer than DELETE_DRAIN_MS, or `abortNow`
 * aborts, is the call aborted; the delete in flight is then returned as unanswered. A stream that fails without
 * having been stopped rejects with its error.
 */
async function deleteLockStep(
  s: Session,
  ids: readonly bigint[],
  o: LockStepOptions,
): Promise<Unanswered | undefined> {
  if (o.stop.aborted) return undefined;
  const call = new AbortController();
  let inFlight: bigint | undefined;
  let release: (() => void) | undefined;
  let ended = false;
  let cutShort: string | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  const abort = (why: string) => {
    if (call.signal.aborted) return;
    cutShort = why;
    call.abort(new ConnectError(why, Code.Canceled));
  };
  const onStop = () => {
    if (inFlight === undefined) return abort("stopped before the first delete was sent");
    release?.(); // the generator sees `stop` and half-closes
    drainTimer = setTimeout(() => abort(`no answer within ${DELETE_DRAIN_MS / 1000} s`), DELETE_DRAIN_MS);
  };
  const onAbortNow = () => abort(String((o.abortNow.reason as Error | undefined)?.message ?? "aborted"));
  o.stop.addEventListener("abort", onStop, { once: true });
  o.abortNow.addEventListener("abort", onAbortNow, { once: true });
  async function* requests() {
    for (const id of ids) {
      if (ended || o.stop.aborted) return;
      inFlight = id;
      yield { id };
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    }
  }
  let index = 0;
  try {
    const options = { ...s.call(call.signal), timeoutMs: o.timeoutMs };
    for await (const _ of s.client.deleteTasks(requests(), options)) {
      const id = ids[index++] as bigint;
      inFlight = undefined;
      o.onDeleted(id);
      release?.();
    }
  } catch (error) {
    if (!o.stop.aborted && !o.abortNow.aborted) throw error;
    if (inFlight === undefined) return undefined;
    if (cutShort !== undefined) return { id: inFlight, why: cutShort };
    const failed = ConnectError.from(error);
    return failed.code === Code.NotFound
      ? { id: inFlight, failed }
      : { id: inFlight, why: failed.rawMessage };
  } finally {
    ended = true;
    release?.();
    clearTimeout(drainTimer);
    o.stop.removeEventListener("abort", onStop);
    o.abortNow.removeEventListener("abort", onAbortNow);
  }
  return inFlight === undefined ? undefined : { id: inFlight, why: "the stream ended without its answer" };
}

/** Says on stderr what became of the delete a stopped stream left unanswered. */
function reportUnanswered(unanswered: Unanswered | undefined, server: string): void {
  if (unanswered === undefined) return;
  process.stderr.write(
    unanswered.failed !== undefined
      ? `${describeFailure(unanswered.failed, server).message}\n`
      : `task ${unanswered.id}: its delete was in flight and got no answer (${unanswered.why}); it may have been applied\n`,
  );
}

/**
 * Deletes in lock-step (deleteLockStep), printing each delete once the server has answered it. Ctrl-C and
 * --timeout's deadline stop sending and wait up to DELETE_DRAIN_MS for the answer in flight, so what is printed
 * is exactly what was deleted; only when that answer does not come in time (or on a second Ctrl-C) is the call
 * aborted, naming the delete that may have been applied. The server is given the deadline plus DELETE_DRAIN_MS,
 * so that its own deadline cannot cut off that last answer. Then rejects with Ctrl-C's or the deadline's error.
 */
async function deleteIds(s: Session, ids: readonly bigint[]): Promise<void> {
  s.signal.throwIfAborted();
  const { timeoutMs } = s.call();
  const deadline = new AbortController();
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () => deadline.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
          timeoutMs,
        );
  const stop = AbortSignal.any([s.signal, deadline.signal]);
  const later = laterInterrupt(s.signal);
  try {
    const unanswered = await deleteLockStep(s, ids, {
      stop,
      abortNow: later.signal,
      timeoutMs: timeoutMs === undefined ? undefined : timeoutMs + DELETE_DRAIN_MS,
      onDeleted: (id) => {
        process.stdout.write(
          s.json ? `${JSON.stringify({ deleted: String(id) })}\n` : `deleted task ${id}\n`,
        );
      },
    });
    reportUnanswered(unanswered, s.server);
    if (stop.aborted) throw stop.reason;
  } finally {
    clearTimeout(timer);
    later.dispose();
  }
}

async function remove(s: Session, args: string[]): Promise<number> {
  await deleteIds(s, parseIds(args));
  return 0;
}

/** How long the demo's second task is given before it becomes overdue. */
const DEMO_OVERDUE_AFTER_MS = 1500;

/**
 * Tasks the demo adds after the book's three, so that the cancelled listing is long: a few short tasks fit in
 * the connection's buffers and are all sent before a cancel can arrive; thousands are not.
 */
const DEMO_FILLER_TASKS = 3000;

/** The demo's filler tasks: those added and not yet deleted, and how many adds ended without an answer. */
interface Filler {
  ids: Set<bigint>;
  /** Adds that were cancelled or timed out: each may have added a task whose id the demo never learnt. */
  unanswered: number;
}

/**
 * Adds `count` tasks, 64 calls in flight, putting each id into `filler` as its answer comes. Ctrl-C starts no
 * further add and lets the adds in flight finish (up to DELETE_DRAIN_MS, or until a second Ctrl-C), so that the
 * demo knows every task it added and can delete them; then rejects with Ctrl-C's reason.
 */
async function addFiller(s: Session, count: number, filler: Filler): Promise<void> {
  const dueDate = parseDue("7d", "due");
  const calls = new AbortController();
  let drainTimer: NodeJS.Timeout | undefined;
  const onStop = () => {
    drainTimer = setTimeout(() => calls.abort(s.signal.reason), DELETE_DRAIN_MS);
  };
  s.signal.addEventListener("abort", onStop, { once: true });
  const later = laterInterrupt(s.signal);
  later.signal.addEventListener("abort", () => calls.abort(later.signal.reason), { once: true });
  let next = 0;
  let failure: { error: unknown } | undefined;
  try {
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < count && !s.signal.aborted && failure === undefined) {
          const n = next++;
          try {
            const { id } = await s.client.addTask(
              { description: `filler task ${n + 1}`, dueDate },
              s.call(calls.signal),
            );
            filler.ids.add(id);
          } catch (error) {
            const code = ConnectError.from(error).code;
            if (code === Code.Canceled || code === Code.DeadlineExceeded) filler.unanswered++;
            failure ??= { error };
          }
        }
      }),
    );
  } finally {
    clearTimeout(drainTimer);
    s.signal.removeEventListener("abort", onStop);
    later.dispose();
  }
  s.signal.throwIfAborted();
  if (failure !== undefined) throw failure.error;
}

/** How long the demo gives itself to delete its filler tasks once it has been interrupted or has failed. */
const FILLER_CLEANUP_MS = 5000;

/** Lock-step delete streams at once for the filler tasks: their deletes share the store's commits. */
const FILLER_DELETE_STREAMS = 16;

/**
 * Deletes the filler tasks quietly over FILLER_DELETE_STREAMS lock-step streams, removing each id from `filler`
 * once its delete is answered. `stop` ends it the way Ctrl-C ends `todo delete` (no further id; the answer in
 * flight awaited); `abortNow` ends it at once. A task found gone already (NOT_FOUND) counts as deleted. Never
 * throws: what is left stays in `filler`, and the ids whose delete got no answer are returned.
 */
async function deleteFiller(
  s: Session,
  filler: Filler,
  stop: AbortSignal,
  abortNow: AbortSignal,
): Promise<Set<bigint>> {
  const ids = [...filler.ids].sort((a, b) => (a < b ? -1 : 1));
  const size = Math.ceil(ids.length / FILLER_DELETE_STREAMS);
  const maybe = new Set<bigint>();
  await Promise.all(
    Array.from({ length: FILLER_DELETE_STREAMS }, async (_, n) => {
      let rest = ids.slice(n * size, (n + 1) * size);
      while (rest.length > 0 && !stop.aborted) {
        try {
          const options = {
            stop,
            abortNow,
            timeoutMs: undefined,
            onDeleted: (id: bigint) => filler.ids.delete(id),
          };
          const unanswered = await deleteLockStep(s, rest, options);
          if (unanswered?.failed !== undefined) filler.ids.delete(unanswered.id);
          else if (unanswered !== undefined) maybe.add(unanswered.id);
          return;
        } catch (error) {
          // NOT_FOUND: the first id not yet answered is gone already (deleted by someone else): go on without it.
          if (ConnectError.from(error).code !== Code.NotFound) return;
          rest = rest.filter((id) => filler.ids.has(id));
          const gone = rest.shift();
          if (gone !== undefined) filler.ids.delete(gone);
        }
      }
    }),
  );
  return maybe;
}

/** `a b c`: runs of 3 or more consecutive ids as `$(seq FIRST LAST)`, so that the command stays short. */
function shellIds(ids: readonly bigint[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ids.length; ) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === (ids[j] as bigint) + 1n) j++;
    parts.push(j - i >= 2 ? `$(seq ${ids[i]} ${ids[j]})` : ids.slice(i, j + 1).join(" "));
    i = j + 1;
  }
  return parts.join(" ");
}

/**
 * After an interrupted or failed demo: deletes the filler tasks left, within FILLER_CLEANUP_MS of its own (the
 * session's signal has usually been aborted by Ctrl-C; a second Ctrl-C stops the cleanup), and says on stderr
 * what could not be deleted and how to delete it.
 */
async function cleanUpFiller(s: Session, filler: Filler): Promise<void> {
  if (filler.ids.size === 0 && filler.unanswered === 0) return;
  const budget = refTimeout(FILLER_CLEANUP_MS);
  const later = laterInterrupt(s.signal);
  let maybe: Set<bigint>;
  try {
    maybe = await deleteFiller(s, filler, AbortSignal.any([budget.signal, later.signal]), later.signal);
  } finally {
    budget.clear();
    later.dispose();
  }
  const left = [...filler.ids].filter((id) => !maybe.has(id)).sort((a, b) => (a < b ? -1 : 1));
  const lines: string[] = [];
  if (left.length > 0) {
    lines.push(
      `todo demo: ${left.length} of its filler tasks are still there; delete them with:`,
      `  cancelkit todo delete --server ${s.server} ${shellIds(left)}`,
    );
  }
  if (maybe.size > 0) {
    lines.push(
      `todo demo: the delete of filler task(s) ${[...maybe].join(", ")} got no answer and may have been applied` +
        " (cancelkit todo list shows whether they are still there)",
    );
  }
  if (filler.unanswered > 0) {
    lines.push(
      `todo demo: ${filler.unanswered} filler add(s) got no answer and may have added a task described ` +
        '"filler task N" (cancelkit todo list shows them)',
    );
  }
  if (lines.length > 0) process.stderr.write(`${lines.join("\n")}\n`);
}

/**
 * The book's chapter 7 client, step by step: add three tasks (the second due in 1.5 s), list, update
 * (description, due date, done), wait until the second is overdue, list with cancel-on-overdue, delete, list.
 */
async function demo(s: Session, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError("todo demo takes no arguments");
  const say = (text: string) => process.stdout.write(`${text}\n`);
  const opts = () => s.call();
  const now = Date.now();
  say("--- add three tasks");
  const overdueAt = now + DEMO_OVERDUE_AFTER_MS;
  const first = (
    await s.client.addTask({ description: "write the chapter", dueDate: parseDue("2h", "due", now) }, opts())
  ).id;
  const second = (
    await s.client.addTask(
      { description: "call the printer", dueDate: parseDue(`${DEMO_OVERDUE_AFTER_MS}ms`, "due", now) },
      opts(),
    )
  ).id;
  const third = (
    await s.client.addTask({ description: "buy coffee", dueDate: parseDue("1d", "due", now) }, opts())
  ).id;
  say(`added tasks ${first}, ${second} (due in ${DEMO_OVERDUE_AFTER_MS / 1000} s) and ${third}`);

  say("--- list");
  await listTasks(s, { cancelOnOverdue: false });

  say(`--- update in one stream: rename ${first}, move ${first}'s due date, mark ${third} done`);
  await s.client.updateTasks(
    (async function* () {
      yield { id: first, description: "write and review the chapter" };
      yield { id: first, dueDate: parseDue("5h", "due") };
      yield { id: third, done: true };
    })(),
    opts(),
  );
  say("--- list (only id and description: a FieldMask)");
  await listTasks(s, { fields: ["id", "description"], cancelOnOverdue: false });

  const wait = overdueAt - Date.now() + 50;
  if (wait > 0) {
    say(`--- waiting ${(wait / 1000).toFixed(1)} s until task ${second} is overdue`);
    await delay(s.signal, wait);
  }
  // Fillers are deleted at the end, or in `finally` when the demo is interrupted or fails: against --server, they
  // would stay in the user's list. A demo server of our own goes away with them.
  const filler: Filler = { ids: new Set(), unanswered: 0 };
  try {
    say(`--- add ${DEMO_FILLER_TASKS} more tasks due next week, so that the next listing is long`);
    await addFiller(s, DEMO_FILLER_TASKS, filler);
    const ids = [...filler.ids].sort((a, b) => (a < b ? -1 : 1));
    say(`added tasks ${ids[0]}…${ids.at(-1)}`);

    say(`--- list, cancelling the stream at the first overdue task (${ids.length + 3} tasks in all)`);
    const serverSaw = s.demoServer?.nextCall("todo.v2.TodoService/ListTasks");
    const outcome = await listTasks(s, { cancelOnOverdue: true });
    if (outcome.stoppedAt === undefined) {
      say("no task was overdue: the listing ran to its end");
    } else {
      say(
        `client: cancelled the stream (RST_STREAM CANCEL) at overdue task ${outcome.stoppedAt}, after ${outcome.listed} task(s)`,
      );
      const line = await serverSaw;
      say(
        line === undefined
          ? "server: its log line for this ListTasks call shows the outcome, the cause and how many tasks it streamed"
          : `server: ListTasks ended ${line.outcome}, cause ${line.cause ?? "none"}, after streaming ${line.messages} ` +
              `of ${ids.length + 3} tasks — it stopped reading the store when the cancel arrived`,
      );
    }

    say(`--- delete ${first}, ${second}, ${third} (and, quietly, the ${ids.length} filler tasks)`);
    await deleteIds(s, [first, second, third]);
    await deleteFiller(s, filler, s.signal, new AbortController().signal);
    s.signal.throwIfAborted();
  } finally {
    if (s.demoServer === undefined) await cleanUpFiller(s, filler);
  }
  say("--- list");
  const last = await listTasks(s, { cancelOnOverdue: false });
  if (last.listed === 0) say("(no tasks)");
  return 0;
}

export async function todo(args: string[], signal: AbortSignal): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(TODO_HELP);
    return command === undefined ? 2 : 0;
  }
  const allowed = COMMAND_OPTIONS[command];
  if (allowed === undefined)
    throw new UsageError(`unknown todo command "${command}" (try: cancelkit todo --help)`);
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: OPTIONS });
  if (values.help) {
    process.stdout.write(TODO_HELP);
    return 0;
  }
  for (const name of Object.keys(values)) {
    if (!COMMON.includes(name) && !allowed.includes(name)) {
      throw new UsageError(`todo ${command} does not take --${name}`);
    }
  }
  const timeoutMs = parseTimeout(values.timeout);
  // `todo demo` without --server runs against a server of its own, whose log it can show.
  const demoServer = command === "demo" && values.server === undefined ? await startDemoServer() : undefined;
  try {
    const server = demoServer?.address ?? values.server ?? DEFAULT_SERVER;
    const token = demoServer?.token ?? (await resolveToken(values.token, values["data-dir"] ?? "./data"));
    return await run(command, positionals, values, { server, token, timeoutMs, signal, demoServer });
  } finally {
    await demoServer?.close();
  }
}

interface Target {
  server: string;
  token: string;
  timeoutMs: number | undefined;
  signal: AbortSignal;
  demoServer: DemoServer | undefined;
}

function run(command: string, positionals: string[], values: Values, target: Target): Promise<number> {
  const { server, token, timeoutMs, signal, demoServer } = target;
  const client = createClient(TodoService, transportFor(server));
  const session: Session = {
    client,
    signal,
    server,
    demoServer,
    json: values.json === true,
    call: (callSignal = signal) => ({
      signal: callSignal,
      timeoutMs,
      headers: { authorization: `Bearer ${token}` },
    }),
  };
  switch (command) {
    case "add":
      return add(session, positionals, values);
    case "list":
      return list(session, positionals, values);
    case "update":
      return update(session, positionals, values);
    case "delete":
      return remove(session, positionals);
    default:
      return demo(session, positionals);
  }
}
