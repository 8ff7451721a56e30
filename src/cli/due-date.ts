/**
 * Due dates on the command line: a relative duration ("2h", "90m", "1.5s") or an RFC 3339 timestamp
 * ("2026-12-01T10:00Z", "2026-12-01T10:00:00.123456789+02:00"), turned into exact seconds + nanos (the
 * fraction is read digit by digit, never through a float or a Date), and printed back the same way.
 */
import { parseDuration } from "../duration.ts";
import { type Due, dueFromMillis, MAX_DUE_SECONDS } from "../store/due.ts";
import { parseFlags, UsageError } from "./usage-error.ts";

const DURATION = /^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)?\s*$/;
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Whole seconds since the epoch of a UTC calendar date and time, years 0001–9999 (no 1900 offset for < 100). */
function utcSeconds(year: number, month: number, day: number, hour: number, minute: number, second: number) {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  const valid =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    hour < 24 &&
    minute < 60 &&
    second < 60;
  return valid ? BigInt(date.getTime() / 1000) : undefined;
}

/** The latest due date a duration may reach, in ms: the end of 9999-12-31 UTC, as for an RFC 3339 time. */
const MAX_DUE_MS = Number(MAX_DUE_SECONDS) * 1000 + 999;

/** Parses `--due`: a duration from `nowMs`, or an RFC 3339 timestamp. Throws a UsageError naming `flag`. */
export function parseDue(text: string, flag: string, nowMs = Date.now()): Due {
  if (DURATION.test(text)) {
    // Bounded by the calendar, not by a timer: nothing waits for a due date.
    const ms = parseFlags(() => parseDuration(text, flag, { minMs: 0, maxMs: Number.POSITIVE_INFINITY }));
    if (!(nowMs + ms <= MAX_DUE_MS)) {
      throw new UsageError(`${flag}: "${text}" from now is after 9999-12-31T23:59:59Z, the latest due date`);
    }
    return dueFromMillis(nowMs + ms);
  }
  const m = RFC3339.exec(text.trim());
  if (m) {
    const [, y, mo, d, h, mi, s, fraction, zone] = m;
    const seconds = utcSeconds(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s ?? 0));
    const utc = zone === undefined || zone.toUpperCase() === "Z";
    const [offsetHours, offsetMinutes] = utc ? [0, 0] : [Number(zone.slice(1, 3)), Number(zone.slice(4, 6))];
    // RFC 3339 offsets are 00:00–23:59: "+99:99" (a typo) silently moved the date by 100 hours and 39 minutes.
    if (seconds !== undefined && offsetHours < 24 && offsetMinutes < 60) {
      const sign = zone?.startsWith("-") ? -1n : 1n;
      const offset = sign * (BigInt(offsetHours) * 3600n + BigInt(offsetMinutes) * 60n);
      return { seconds: seconds - offset, nanos: Number((fraction ?? "").padEnd(9, "0")) };
    }
  }
  throw new UsageError(
    `${flag}: "${text}" is neither a duration (e.g. 2h, 30m) nor an RFC 3339 time (e.g. 2026-12-01T10:00Z)`,
  );
}

/** RFC 3339 in UTC with exactly as many fraction digits as needed (0, 3, 6 or 9), like protobuf's JSON. */
export function formatDue(due: Due): string {
  const base = new Date(Number(due.seconds) * 1000).toISOString().slice(0, 19);
  if (due.nanos === 0) return `${base}Z`;
  const digits = String(due.nanos).padStart(9, "0");
  const fraction = digits.endsWith("000000")
    ? digits.slice(0, 3)
    : digits.endsWith("000")
      ? digits.slice(0, 6)
      : digits;
  return `${base}.${fraction}Z`;
}
