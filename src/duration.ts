/** Durations as people type them: "250ms", "10s", "1.5m", "2h"; a bare number means seconds. */

/** A day, the longest --timeout and --grace take. */
export const DAY_MS = 86_400_000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS };

/** The accepted values of a duration flag, in whole milliseconds, both ends included. */
export interface DurationRange {
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * Parses a duration into whole milliseconds (rounded); throws a RangeError naming `what` if it is not one, or if
 * it falls outside `range` — checked after rounding, so "0.4ms" is 0 ms, not 1.
 */
export function parseDuration(text: string, what: string, range: DurationRange): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) throw new RangeError(`${what}: "${text}" is not a duration (e.g. 500ms, 10s, 2m, 1h)`);
  const unit = match[2] ?? "s";
  const ms = Math.round(Number(match[1]) * (UNIT_MS[unit] ?? 1000));
  // A string of 400 digits is Infinity, which the comparison rejects too.
  if (!(ms >= range.minMs && ms <= range.maxMs)) {
    throw new RangeError(
      `${what}: "${text}" must be from ${formatDuration(range.minMs)} to ${formatDuration(range.maxMs)}`,
    );
  }
  return ms;
}

/** `ms` in the largest unit that divides it, as the flags take it: 0, 1ms, 30s, 24h (hours, not days). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  for (const unit of ["h", "m", "s"] as const) {
    const size = UNIT_MS[unit] ?? 1;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
