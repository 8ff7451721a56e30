/**
 * `cancelkit todo demo`: the book's scenario, with a listing long enough to cancel mid-way at the first overdue
 * task; against --server it removes its tasks (the book's three and the filler) even when interrupted.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { delay, refTimeout } from "../abort.ts";
import { parseDue } from "./due-date.ts";
import { DELETE_DRAIN_MS, deleteIds, deleteLockStep, laterInterrupt } from "./todo-delete.ts";
import { listTasks } from "./todo-list.ts";
import type { TodoSession } from "./todo-session.ts";
import { UsageError } from "./usage-error.ts";

/** How long the demo's second task is given before it becomes overdue. */
const DEMO_OVERDUE_AFTER_MS = 1500;

/**
 * Tasks the demo adds after the book's three, so that the cancelled listing is long: a few short tasks fit in
 * the connection's buffers and are all sent before a cancel can arrive; thousands are not.
 */
const DEMO_FILLER_TASKS = 3000;

/**
 * The demo's filler tasks: those added and not yet deleted, how many adds ended without an answer, and the
 * deletes that did.
 */
interface Filler {
  ids: Set<bigint>;
  /** Adds that were cancelled or timed out: each may have added a task whose id the demo never learnt. */
  unanswered: number;
  /** Ids (still in `ids`) whose quiet delete was cut short without its answer: each may have been deleted. */
  unansweredDeletes: Set<bigint>;
}

/**
 * The book's three tasks: those added and not yet deleted, the adds that ended without an answer, and the
 * deletes that did.
 */
interface Examples {
  ids: Set<bigint>;
  /** Descriptions of the adds that were cancelled or timed out: each may have added its task. */
  unanswered: string[];
  /** Ids (still in `ids`) whose delete was cut short without its answer: each may have been deleted. */
  unansweredDeletes: Set<bigint>;
}

/** A call that ended this way may have been applied: its answer never came (Ctrl-C, --timeout's deadline). */
function gotNoAnswer(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.Canceled || code === Code.DeadlineExceeded;
}

/** Adds one of the book's tasks, putting its id into `examples`, or its description when the add got no answer. */
async function addExample(
  s: TodoSession,
  examples: Examples,
  description: string,
  dueDate: ReturnType<typeof parseDue>,
): Promise<bigint> {
  try {
    const { id } = await s.client.addTask({ description, dueDate }, s.call());
    examples.ids.add(id);
    return id;
  } catch (error) {
    if (gotNoAnswer(error)) examples.unanswered.push(description);
    throw error;
  }
}

/**
 * Adds `count` tasks, 64 calls in flight, putting each id into `filler` as its answer comes. Ctrl-C starts no
 * further add and lets the adds in flight finish (up to DELETE_DRAIN_MS, or until a second Ctrl-C), so that the
 * demo knows every task it added and can delete them; then rejects with Ctrl-C's reason. `interruptedTwice` is
 * the caller's listener for that second Ctrl-C; without it, addFiller listens for one itself.
 */
async function addFiller(
  s: TodoSession,
  count: number,
  filler: Filler,
  interruptedTwice: AbortSignal | undefined,
): Promise<void> {
  const dueDate = parseDue("7d", "due");
  const calls = new AbortController();
  let drainTimer: NodeJS.Timeout | undefined;
  const onStop = () => {
    drainTimer = setTimeout(() => calls.abort(s.signal.reason), DELETE_DRAIN_MS);
  };
  s.signal.addEventListener("abort", onStop, { once: true });
  const later = laterInterrupt(s.signal, interruptedTwice);
  const onAbortNow = () => calls.abort(later.signal.reason);
  later.signal.addEventListener("abort", onAbortNow, { once: true });
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
            if (gotNoAnswer(error)) filler.unanswered++;
            failure ??= { error };
          }
        }
      }),
    );
  } finally {
    clearTimeout(drainTimer);
    s.signal.removeEventListener("abort", onStop);
    later.signal.removeEventListener("abort", onAbortNow);
    later.dispose();
  }
  s.signal.throwIfAborted();
  if (failure !== undefined) throw failure.error;
}

/** How long the demo gives itself to delete its tasks once it has been interrupted or has failed. */
const CLEANUP_MS = 5000;

/** Lock-step delete streams at once for the filler tasks: their deletes share the store's commits. */
const FILLER_DELETE_STREAMS = 16;

/**
 * Deletes the tasks `left` quietly over FILLER_DELETE_STREAMS lock-step streams, removing each id from `left`
 * once its delete is answered. `stop` ends it the way Ctrl-C ends `todo delete` (no further id; the answer in
 * flight awaited); `abortNow` ends it at once. A task found gone already (NOT_FOUND) counts as deleted. Never
 * throws: what is left stays in `left`, and the ids whose delete got no answer are returned.
 */
async function deleteQuietly(
  s: TodoSession,
  left: Set<bigint>,
  stop: AbortSignal,
  abortNow: AbortSignal,
): Promise<Set<bigint>> {
  const ids = sortedIds(left);
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
            onDeleted: (id: bigint) => left.delete(id),
          };
          const unanswered = await deleteLockStep(s, rest, options);
          if (unanswered?.failed !== undefined) left.delete(unanswered.id);
          else if (unanswered !== undefined) maybe.add(unanswered.id);
          return;
        } catch (error) {
          // NOT_FOUND: the first id not yet answered is gone already (deleted by someone else): go on without it.
          if (ConnectError.from(error).code !== Code.NotFound) return;
          rest = rest.filter((id) => left.has(id));
          const gone = rest.shift();
          if (gone !== undefined) left.delete(gone);
        }
      }
    }),
  );
  return maybe;
}

/** Task ids in ascending order. */
function sortedIds(ids: Iterable<bigint>): bigint[] {
  return [...ids].sort((a, b) => (a < b ? -1 : 1));
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
 * After an interrupted or failed demo: deletes the tasks it added and has not deleted (the book's three and the
 * filler), within CLEANUP_MS of its own (the session's signal has usually been aborted by Ctrl-C, and a second
 * Ctrl-C aborts the cleanup; after an error, a first Ctrl-C stops it and a second aborts it), and says on stderr
 * what could not be deleted and how to delete it, and which adds and deletes got no answer and may have been
 * applied. `interruptedTwice` is the demo's listener for a second Ctrl-C, armed from the first on: when it has
 * aborted already (a second Ctrl-C came during a step), the cleanup deletes nothing more, only says what is left.
 */
async function cleanUp(
  s: TodoSession,
  examples: Examples,
  filler: Filler,
  interruptedTwice: AbortSignal,
): Promise<void> {
  const left = new Set([...examples.ids, ...filler.ids]);
  if (left.size === 0 && examples.unanswered.length === 0 && filler.unanswered === 0) return;
  const budget = refTimeout(CLEANUP_MS);
  // After Ctrl-C, the next Ctrl-C aborts the cleanup at once. After an error, the session's signal is not aborted
  // yet: the first Ctrl-C stops the cleanup the graceful way (no further delete; the answers in flight awaited)
  // and the next one aborts it.
  const stop = AbortSignal.any([budget.signal, interruptedTwice, ...(s.signal.aborted ? [] : [s.signal])]);
  let unanswered: Set<bigint>;
  try {
    unanswered = await deleteQuietly(s, left, stop, interruptedTwice);
  } finally {
    budget.clear();
  }
  // A delete that got no answer and was not retried (or got none again) may have been applied.
  const maybe = new Set(
    [...examples.unansweredDeletes, ...filler.unansweredDeletes, ...unanswered].filter((id) => left.has(id)),
  );
  const there = sortedIds([...left].filter((id) => !maybe.has(id)));
  const lines: string[] = [];
  if (there.length > 0) {
    const book = there.filter((id) => examples.ids.has(id));
    const fillers = there.length - book.length;
    const which = [
      ...(book.length > 0 ? [`the book's task(s) ${book.join(", ")}`] : []),
      ...(fillers > 0 ? [`${fillers} filler tasks`] : []),
    ];
    lines.push(
      `todo demo: ${there.length} of its tasks are still there (${which.join("; ")}); delete them with:`,
      `  cancelkit todo delete --server ${s.server} ${shellIds(there)}`,
    );
  }
  if (maybe.size > 0) {
    lines.push(
      `todo demo: the delete of task(s) ${sortedIds(maybe).join(", ")} got no answer and may have been applied` +
        " (cancelkit todo list shows whether they are still there)",
    );
  }
  for (const description of examples.unanswered) {
    lines.push(
      `todo demo: the add of "${description}" got no answer and may have added that task` +
        " (cancelkit todo list shows it)",
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
export async function demo(s: TodoSession, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError("todo demo takes no arguments");
  // With --json, stdout carries only the tasks' JSON lines, so that a pipe into `jq` parses; the story goes to stderr.
  const narration = s.json ? process.stderr : process.stdout;
  const say = (text: string) => narration.write(`${text}\n`);
  const opts = () => s.call();
  const now = Date.now();
  // Every task the demo adds is deleted at the end, or in `finally` when the demo is interrupted or fails: against
  // --server, they would stay in the user's list. A demo server of our own goes away with them.
  const examples: Examples = { ids: new Set(), unanswered: [], unansweredDeletes: new Set() };
  const filler: Filler = { ids: new Set(), unanswered: 0, unansweredDeletes: new Set() };
  // Against --server, one listener for a second Ctrl-C serves every step from the first Ctrl-C on (main's handler
  // takes the first and stops listening): whichever step it comes in — the filler adds, the listing, the deletes
  // — it ends that step at once, and the cleanup deletes nothing more but says what is left. With a demo server
  // of our own nothing is left behind: the filler adds and the deletes listen for a second Ctrl-C themselves,
  // and elsewhere it kills at once.
  const later = s.demoServer === undefined ? laterInterrupt(s.signal) : undefined;
  try {
    say("--- add three tasks");
    const overdueAt = now + DEMO_OVERDUE_AFTER_MS;
    const first = await addExample(s, examples, "write the chapter", parseDue("2h", "due", now));
    const second = await addExample(
      s,
      examples,
      "call the printer",
      parseDue(`${DEMO_OVERDUE_AFTER_MS}ms`, "due", now),
    );
    const third = await addExample(s, examples, "buy coffee", parseDue("1d", "due", now));
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

    say(`--- add ${DEMO_FILLER_TASKS} more tasks due next week, so that the next listing is long`);
    await addFiller(s, DEMO_FILLER_TASKS, filler, later?.signal);
    const ids = sortedIds(filler.ids);
    say(`added tasks ${ids[0]}…${ids.at(-1)}`);

    say(`--- list, cancelling the stream at the first overdue task (the demo added ${ids.length + 3} tasks)`);
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
    await deleteIds(s, [first, second, third], {
      onDeleted: (id) => examples.ids.delete(id),
      onUnanswered: (id) => examples.unansweredDeletes.add(id),
      interruptedTwice: later?.signal,
    });
    const abortNow = later?.signal ?? new AbortController().signal;
    filler.unansweredDeletes = await deleteQuietly(s, filler.ids, s.signal, abortNow);
    s.signal.throwIfAborted();
  } finally {
    if (later !== undefined) {
      try {
        await cleanUp(s, examples, filler, later.signal);
      } finally {
        later.dispose();
      }
    }
  }
  say("--- list");
  const last = await listTasks(s, { cancelOnOverdue: false });
  if (last.listed === 0) say("(no tasks)");
  return 0;
}
