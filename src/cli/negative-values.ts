/**
 * `--ideal -1`: Node's parseArgs takes a value that starts with a dash for another option and refuses it as
 * "ambiguous", so a negative number never reached the flag's own check ("must be a whole number from 0 to 28").
 * Joined as `--ideal=-1` it does, and the message names the range.
 */

/** A negative number, with or without a unit: -1, -0.5, -2h. */
const NEGATIVE_NUMBER = /^-\d/;

/** `args` with each `--flag -N` of a flag that takes a value written as `--flag=-N`. */
export function withNegativeValues(
  args: readonly string[],
  options: Readonly<Record<string, { type: "string" | "boolean" }>>,
): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    const next = args[i + 1];
    if (arg === "--") return [...joined, ...args.slice(i)];
    const name = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : undefined;
    if (
      name !== undefined &&
      options[name]?.type === "string" &&
      next !== undefined &&
      NEGATIVE_NUMBER.test(next)
    ) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}
