/**
 * Deleting tasks in lock-step over one DeleteTasks stream, so that what is printed is exactly what was deleted,
 * even when Ctrl-C or the deadline stops it with a delete in flight.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { refTimeout } from "../abort.ts";
import { describeFailure } from "./exit-codes.ts";
import type { TodoSession } from "./todo-session.ts";

/**
 * How long a stopped delete stream (Ctrl-C, --timeout's deadline) waits for the answer to the delete it has in
 * flight before it aborts the call.
 */
export const DELETE_DRAIN_MS = 2000;

/**
 * Aborts at the first Ctrl-C after `first` has aborted. main's handler turns the first Ctrl-C into the command
 * signal's abort and then stops listening; this listens for the next one. `dispose()` stops listening. Given
 * `shared`, a caller's own such signal that several steps share, it returns that one instead and leaves its
 * listener to its owner (`dispose()` does nothing).
 */
export function laterInterrupt(
  first: AbortSignal,
  shared?: AbortSignal,
): { signal: AbortSignal; dispose(): void } {
  if (shared !== undefined) return { signal: shared, dispose() {} };
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
export async function deleteLockStep(
  s: TodoSession,
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
  // The reason's own words: a ConnectError's message starts with its code ("[canceled] …").
  const onAbortNow = () => abort(ConnectError.from(o.abortNow.reason).rawMessage);
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
      ? `${describeFailure(unanswered.failed, server, false).message}\n`
      : `task ${unanswered.id}: its delete was in flight and got no answer (${unanswered.why}); it may have been applied\n`,
  );
}

/** What deleteIds tells its caller, and the second Ctrl-C it may share with the caller's other steps. */
export interface DeleteIdsOptions {
  /** Told each id printed. */
  onDeleted?(id: bigint): void;
  /** Told the id whose delete was in flight and got no answer (it may have been applied). */
  onUnanswered?(id: bigint): void;
  /**
   * The caller's own listener for a second Ctrl-C (laterInterrupt): it aborts the call at once. Without it,
   * deleteIds listens for one itself.
   */
  interruptedTwice?: AbortSignal;
}

/**
 * Deletes in lock-step (deleteLockStep), printing each delete once the server has answered it. Ctrl-C and
 * --timeout's deadline stop sending and wait up to DELETE_DRAIN_MS for the answer in flight, so what is printed
 * is exactly what was deleted; only when that answer does not come in time (or on a second Ctrl-C) is the call
 * aborted, naming the delete that may have been applied. The server is given the deadline plus DELETE_DRAIN_MS,
 * so that its own deadline cannot cut off that last answer. Then rejects with Ctrl-C's or the deadline's error.
 */
export async function deleteIds(
  s: TodoSession,
  ids: readonly bigint[],
  o: DeleteIdsOptions = {},
): Promise<void> {
  s.signal.throwIfAborted();
  const { timeoutMs } = s.call();
  const deadline =
    timeoutMs === undefined
      ? undefined
      : refTimeout(timeoutMs, () => new ConnectError("the operation timed out", Code.DeadlineExceeded));
  const stop = deadline === undefined ? s.signal : AbortSignal.any([s.signal, deadline.signal]);
  const later = laterInterrupt(s.signal, o.interruptedTwice);
  try {
    const unanswered = await deleteLockStep(s, ids, {
      stop,
      abortNow: later.signal,
      timeoutMs: timeoutMs === undefined ? undefined : timeoutMs + DELETE_DRAIN_MS,
      onDeleted: (id) => {
        process.stdout.write(
          s.json ? `${JSON.stringify({ deleted: String(id) })}\n` : `deleted task ${id}\n`,
        );
        o.onDeleted?.(id);
      },
    });
    reportUnanswered(unanswered, s.server);
    if (unanswered !== undefined && unanswered.failed === undefined) o.onUnanswered?.(unanswered.id);
    if (stop.aborted) throw stop.reason;
  } finally {
    deadline?.clear();
    later.dispose();
  }
}
