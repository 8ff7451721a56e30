/** The data dir flag of the commands that read it, and the one message for a data dir that cannot be used. */
import { resolveServerOptions } from "../server/options.ts";
import { databasePath } from "../store/sqlite.ts";
import { parseFlags } from "./usage-error.ts";

/** `--data-dir` as given, or the server's default, checked as `serve` checks it (an empty one is exit 2). */
export function dataDirFlag(value: string | undefined): string {
  return parseFlags(() => resolveServerOptions({ dataDir: value })).dataDir;
}

/** Names the file and the flag to change: not writable, not a database, another program's database, a file. */
export function unusableDataDir(dataDir: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `cannot use ${databasePath(dataDir)} (--data-dir): ${message}`;
}
