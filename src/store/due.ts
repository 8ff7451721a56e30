/**
 * Due dates as exact (seconds, nanos) pairs, the shape of `google.protobuf.Timestamp`. Nothing here goes
 * through a JS `Date` or a float: a due date round-trips to the nanosecond and compares exactly.
 */
import { invalidField } from "../errors.ts";

/** A point in time: whole seconds since the Unix epoch (may be negative) plus 0–999,999,999 nanoseconds. */
export interface Due {
  seconds: bigint;
  nanos: number;
}

/** Earliest `google.protobuf.Timestamp`: 0001-01-01T00:00:00Z. */
export const MIN_DUE_SECONDS = -62_135_596_800n;
/** Latest `google.protobuf.Timestamp`: 9999-12-31T23:59:59Z (with up to 999,999,999 nanos). */
export const MAX_DUE_SECONDS = 253_402_300_799n;
export const MAX_NANOS = 999_999_999;

/** Negative, zero or positive as `a` is before, equal to or after `b`; seconds first, so no multiplication. */
export function compareDue(a: Due, b: Due): number {
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1;
  return a.nanos - b.nanos;
}

/** A millisecond clock reading (`Date.now()`) as an exact Due. */
export function dueFromMillis(ms: number): Due {
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/**
 * Whether a task is overdue at `now`: it has a due date, is not done, and the due date is strictly before now.
 * Take `now` once per call (e.g. `dueFromMillis(Date.now())`) so a listing uses one clock reading.
 */
export function isOverdue(task: { done: boolean; due?: Due | undefined }, now: Due): boolean {
  return task.due !== undefined && !task.done && compareDue(task.due, now) < 0;
}

/**
 * Why `due` is not an acceptable due date at `now`, or `undefined` if it is: missing, nanos outside
 * 0–999,999,999, outside the Timestamp range, or in the past (a due date equal to now is accepted).
 */
export function dueProblem(due: Due | undefined, now: Due): string | undefined {
  if (due === undefined) return "is required";
  if (!Number.isInteger(due.nanos) || due.nanos < 0 || due.nanos > MAX_NANOS) {
    return `nanos must be between 0 and ${MAX_NANOS}`;
  }
  if (due.seconds < MIN_DUE_SECONDS || due.seconds > MAX_DUE_SECONDS) {
    return "must be between 0001-01-01 and 9999-12-31 UTC";
  }
  if (compareDue(due, now) < 0) return "must not be in the past";
  return undefined;
}

/**
 * Throws `invalidField(field, why)` (INVALID_ARGUMENT naming the field) unless `due` is an acceptable due date
 * at `now` (see {@link dueProblem}); otherwise returns it, narrowed to defined.
 */
export function validateDue(field: string, due: Due | undefined, now: Due): Due {
  const problem = dueProblem(due, now);
  if (problem !== undefined || due === undefined) throw invalidField(field, problem ?? "is required");
  return due;
}
