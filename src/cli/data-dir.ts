/** The one message for a data dir whose database cannot be used, for every command that opens it. */
import { join } from "node:path";
import { DB_FILE_NAME } from "../store/sqlite.ts";

/** Names the file and the flag to change: not writable, not a database, another program's database, a file. */
export function unusableDataDir(dataDir: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `cannot use ${join(dataDir, DB_FILE_NAME)} (--data-dir): ${message}`;
}
