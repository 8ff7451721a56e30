/**
 * The commands' parseArgs, with one difference: `--ideal -1`. Node's parseArgs takes a value that starts with a
 * dash for another option and refuses it as "ambiguous", so a negative number never reached the flag's own check
 * ("must be a whole number from 0 to 28"). Joined as `--ideal=-1` it does, and the message names the range.
 */
import { type ParseArgsConfig, type ParseArgsOptionsConfig, parseArgs } from "node:util";

/** A negative number, with or without a unit: -1, -0.5, -2h. */
const NEGATIVE_NUMBER = /^-\d/;

/** parseArgs over `config.args` with each `--flag -N` of a flag that takes a value read as `--flag=-N`. */
export function parseCommandLine<
  T extends ParseArgsConfig & { args: string[]; options: ParseArgsOptionsConfig },
>(config: T): ReturnType<typeof parseArgs<T>> {
  return parseArgs<T>({ ...config, args: withNegativeValues(config.args, config.options) });
}

/** `args` with each `--flag -N` of a flag that takes a value written as `--flag=-N`; nothing after `--`. */
function withNegativeValues(args: readonly string[], options: ParseArgsOptionsConfig): string[] {
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
