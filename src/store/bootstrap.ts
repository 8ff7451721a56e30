/**
 * First start: a server with an empty data dir creates a user "local" and writes its token to
 * `<dataDir>/token` (mode 0600), so a local client can authenticate without any setup.
 */
import { chmod, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NewUser, TaskStore } from "./task-store.ts";

export const TOKEN_FILE_NAME = "token";
export const LOCAL_USER_NAME = "local";

/** Writes one structured log line: an event name and its fields. */
export type BootstrapLog = (event: string, fields: Record<string, string>) => void;

export function tokenPath(dataDir: string): string {
  return join(dataDir, TOKEN_FILE_NAME);
}

/**
 * If the store has no user yet, creates user "local", writes its token to `<dataDir>/token` with mode 0600 and
 * logs one line naming the file (never the token). Returns the token file's path either way.
 * Rejects with `signal.reason` if aborted before the user is created.
 */
export async function ensureLocalUser(
  signal: AbortSignal,
  store: Pick<TaskStore, "countUsers" | "createUser">,
  dataDir: string,
  log: BootstrapLog,
): Promise<string> {
  const path = tokenPath(dataDir);
  if ((await store.countUsers(signal)) > 0) return path;
  let created: NewUser;
  try {
    created = await store.createUser(signal, LOCAL_USER_NAME);
  } catch (error) {
    // Another server on the same data dir created it after our count, and writes the token file itself.
    if (error instanceof ConnectError && error.code === Code.AlreadyExists) return path;
    throw error;
  }
  const { userId, token } = created;
  // A crash between createUser and here leaves a user without a token file; `cancelkit users add` recovers.
  await writeSecretFile(path, `${token}\n`);
  log("local-user-created", { user: LOCAL_USER_NAME, userId: String(userId), tokenFile: path });
  return path;
}

/** Reads a token written by {@link ensureLocalUser} (surrounding whitespace removed). */
export async function readTokenFile(path: string): Promise<string> {
  return (await readFile(path, "utf8")).trim();
}

/**
 * Writes `text` to `path` readable by the owner only: through a temporary file created 0600 (so the secret is
 * never world-readable, whatever the umask), fsynced, then renamed over `path`.
 */
async function writeSecretFile(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  const file = await open(temporary, "w", 0o600);
  try {
    await file.chmod(0o600); // in case the file already existed with a wider mode
    await file.writeFile(text, "utf8");
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  await chmod(path, 0o600);
}
