/**
 * `cancelkit users add NAME`: creates a user in the data dir's database directly (no server needed; it also
 * works while the server runs: SQLite WAL lets both use the file, and a write waits for the other's lock) and
 * prints the new token, once: only its hash is stored.
 */
import { existsSync } from "node:fs";
import { databasePath, openSqliteStore } from "../store/sqlite.ts";
import { parseCommandLine } from "./command-line.ts";
import { dataDirFlag, unusableDataDir } from "./data-dir.ts";
import { EXIT } from "./exit-codes.ts";
import { UsageError } from "./usage-error.ts";

/** Longest user name `users add` takes, in characters. */
export const MAX_USER_NAME_LENGTH = 64;

export const USERS_HELP = `Usage: cancelkit users add NAME [--data-dir DIR]

Creates user NAME (up to 64 characters, no control characters) in DIR's database (default ./data) and prints
its bearer token on stdout. The token is shown only this once (the database keeps its SHA-256). Use it with
--token, or export CANCELKIT_TOKEN=... A DIR with no database gets a new one, and stderr says so.
`;

export async function users(args: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: true,
    options: { "data-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    process.stdout.write(USERS_HELP);
    return 0;
  }
  const [action, name, ...extra] = positionals;
  if (action !== "add") throw new UsageError('users: the only action is "add" (cancelkit users add NAME)');
  if (name === undefined || name.trim() === "" || extra.length > 0) {
    throw new UsageError("users add takes exactly one NAME");
  }
  // A name is shown in logs and messages: a newline in one, or 5,000 characters, was taken as it came.
  if ([...name].length > MAX_USER_NAME_LENGTH || /\p{Cc}/u.test(name)) {
    throw new UsageError(
      `users add: NAME must be at most ${MAX_USER_NAME_LENGTH} characters, with no control characters (newlines, tabs)`,
    );
  }
  const dataDir = dataDirFlag(values["data-dir"]);
  // A mistyped --data-dir made a new database silently, and the user went where no server looks.
  const database = databasePath(dataDir);
  const newDatabase = !existsSync(database);
  let store: Awaited<ReturnType<typeof openSqliteStore>>;
  try {
    store = await openSqliteStore(dataDir);
  } catch (error) {
    // A --data-dir that is a file, unwritable, or not a database: it read "error (Unknown): EEXIST: … mkdir".
    process.stderr.write(`cancelkit users: ${unusableDataDir(dataDir, error)}\n`);
    return EXIT.failed;
  }
  try {
    const { userId, token } = await store.createUser(signal, name);
    process.stdout.write(`${token}\n`);
    if (newDatabase) process.stderr.write(`no database was at ${database}: created a new one\n`);
    process.stderr.write(`created user ${JSON.stringify(name)} (id ${userId}) in ${dataDir}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
