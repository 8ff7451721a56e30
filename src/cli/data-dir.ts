/** The data dir flag of the commands that read it, and the one message for a data dir that cannot be used. */
import { join } from "node:path";
import { defaultServerOptions } from "../server/options.ts";
import { DB_FILE_NAME } from "../store/sqlite.ts";
import { UsageError } from "./usage-error.ts";

/** `--data-dir` as given, or the server's default; an empty one is a bad command line (exit 2), as for `serve`. */
export function dataDirFlag(value: string | undefined): string {
  if (value === undefined) return defaultServerOptions().dataDir;
  if (value.trim() === "") throw new UsageError("--data-dir: must not be empty");
  return value;
}

/** Names the file and the flag to change: not writable, not a database, another program's database, a file. */
export function unusableDataDir(dataDir: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `cannot use ${join(dataDir, DB_FILE_NAME)} (--data-dir): ${message}`;
}
