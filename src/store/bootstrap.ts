/**
 * Local access: a server makes sure `<dataDir>/token` (mode 0600) holds a token of the database, so that a client
 * on this machine can authenticate without any setup. On first start it creates user "local" for it.
 */
import { randomUUID } from "node:crypto";
import { chmod, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type { TaskStore } from "./task-store.ts";

export const TOKEN_FILE_NAME = "token";
export const LOCAL_USER_NAME = "local";

/** Writes one structured log line: an event name and its fields. */
export type BootstrapLog = (event: string, fields: Record<string, string>) => void;

export function tokenPath(dataDir: string): string {
  return join(dataDir, TOKEN_FILE_NAME);
}

/**
 * Unless `<dataDir>/token` holds a token the store knows, issues user "local" a new one (creating the user if
 * there is none), writes it there with mode 0600 and logs one line naming the file (never the token). Returns
 * the token file's path either way.
 *
 * Asking whether the file's token is known, rather than whether the store has any user, covers what the old
 * rule left without local access for good: a data dir where `cancelkit users add` came before the first start,
 * and a kill between creating "local" and writing its file. A deleted file gets a new token at the next start;
 * the old one stays valid, as a user's tokens do. Two servers starting at once each issue one; the file keeps
 * the last written, which is valid.
 */
export async function ensureLocalUser(
  signal: AbortSignal,
  store: Pick<TaskStore, "userForToken" | "issueToken">,
  dataDir: string,
  log: BootstrapLog,
): Promise<string> {
  const path = tokenPath(dataDir);
  const current = await readTokenFileIfAny(path);
  // An empty file reads as "", which is no one's token.
  if (current !== undefined && (await store.userForToken(signal, current)) !== undefined) return path;
  const { userId, token, createdUser } = await store.issueToken(signal, LOCAL_USER_NAME);
  await writeSecretFile(path, `${token}\n`);
  const fields = { user: LOCAL_USER_NAME, userId: String(userId), tokenFile: path };
  if (createdUser) log("local-user-created", fields);
  else {
    const why = current === undefined ? "no token file" : "the token file's token is not in the database";
    log("local-token-issued", { ...fields, why });
  }
  return path;
}

/** The token file's text, trimmed, or undefined if there is no file (other read errors are thrown). */
async function readTokenFileIfAny(path: string): Promise<string | undefined> {
  try {
    return await readTokenFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
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
  // Unique per call: two servers of one process (tests) may write the same data dir's file at once.
  const temporary = `${path}.${randomUUID()}.tmp`;
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
