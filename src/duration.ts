/** Durations as people type them: "250ms", "10s", "1.5m", "2h"; a bare number means seconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration into milliseconds; throws a RangeError naming `what` if it is not one. */
export function parseDuration(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) throw new RangeError(`${what}: "${text}" is not a duration (e.g. 500ms, 10s, 2m, 1h)`);
  const unit = match[2] ?? "s";
  return Math.round(Number(match[1]) * (UNIT_MS[unit] ?? 1000));
}
