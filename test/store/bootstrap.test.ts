import assert from "node:assert/strict";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ensureLocalUser, readTokenFile } from "../../src/store/bootstrap.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import { newToken } from "../../src/store/tokens.ts";
import { never, tempDir } from "./helpers.ts";

test("first start creates user 'local' and writes its token 0600; later starts leave it alone", async () => {
  const dir = await tempDir();
  const lines: string[] = [];
  const log = (message: string, fields: Record<string, unknown>) =>
    lines.push(`${message} ${JSON.stringify(fields)}`);

  const store = await openSqliteStore(dir);
  const path = await ensureLocalUser(never, store, dir, log);
  assert.equal(path, join(dir, "token"));
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  const token = await readTokenFile(path);
  const userId = await store.userForToken(never, token);
  assert.notEqual(userId, undefined);
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes(token), "the log never shows the token");
  await store.close();

  const again = await openSqliteStore(dir);
  assert.equal(await ensureLocalUser(never, again, dir, log), path);
  assert.equal(await again.countUsers(never), 1);
  assert.equal(await readTokenFile(path), token, "the token file is not rewritten");
  assert.equal(lines.length, 1, "nothing logged when the file holds a known token");
  await again.close();
});

test("tokens are 43 base64url characters and never start with '-', which the CLI's --token would take for an option", () => {
  // One token in 64 started with "-"; over 2,000 draws, a generator that allowed it fails this nearly surely.
  for (let i = 0; i < 2000; i++) {
    const token = newToken();
    assert.match(token, /^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
  }
});

test("two servers starting at once on a fresh data dir: one user 'local', and the token file's token is valid", async () => {
  const dir = await tempDir();
  const first = await openSqliteStore(dir);
  const second = await openSqliteStore(dir);
  const lines: string[] = [];
  const log = (event: string) => lines.push(event);
  // With the old rule (count users, then create), one of two `cancelkit serve` on one new data dir failed about
  // one start in three with "user "local" already exists".
  const paths = await Promise.all([
    ensureLocalUser(never, first, dir, log),
    ensureLocalUser(never, second, dir, log),
  ]);
  assert.equal(paths[0], paths[1]);
  assert.equal(await second.countUsers(never), 1, "one user");
  const local = await second.userForToken(never, await readTokenFile(paths[0]));
  assert.notEqual(local, undefined, "whichever wrote last, the file's token is in the database");
  assert.deepEqual(lines.sort(), ["local-token-issued", "local-user-created"]);
  await first.close();
  await second.close();
});

test("'users add' before the first start: the server still creates 'local' and its token file", async () => {
  const dir = await tempDir();
  const store = await openSqliteStore(dir);
  const alice = await store.createUser(never, "alice");
  const lines: string[] = [];
  const path = await ensureLocalUser(never, store, dir, (event) => lines.push(event));
  const local = await store.userForToken(never, await readTokenFile(path));
  assert.notEqual(local, undefined);
  assert.notEqual(local, alice.userId, "the file holds local's token, not alice's");
  assert.equal(await store.countUsers(never), 2);
  assert.deepEqual(lines, ["local-user-created"]);
  await store.close();
});

test("a token file lost after 'local' was created (a kill between the two) is written again with a new token", async () => {
  const dir = await tempDir();
  const store = await openSqliteStore(dir);
  const earlier = await store.createUser(never, "local"); // the state such a kill leaves: the user, no file
  const logged: Array<Record<string, string>> = [];
  const log = (event: string, fields: Record<string, string>) => logged.push({ event, ...fields });
  const path = await ensureLocalUser(never, store, dir, log);
  const token = await readTokenFile(path);
  assert.notEqual(token, earlier.token);
  assert.equal(await store.userForToken(never, token), earlier.userId, "the same user, a new token");
  assert.equal(await store.userForToken(never, earlier.token), earlier.userId, "earlier tokens stay valid");
  assert.equal(await store.countUsers(never), 1, "no second 'local'");
  assert.deepEqual(
    logged.map(({ event, why }) => [event, why]),
    [["local-token-issued", "no token file"]],
  );
  assert.equal((await stat(path)).mode & 0o777, 0o600);

  // A file whose token the database does not know (another data dir's, or cut short) is replaced too.
  await writeFile(path, "not-a-token-of-this-database\n");
  await ensureLocalUser(never, store, dir, log);
  assert.equal(await store.userForToken(never, await readTokenFile(path)), earlier.userId);
  assert.equal(logged.at(-1)?.why, "the token file's token is not in the database");
  await store.close();
});

test("a token file that cannot be read is an error, not a reason to write a new one", async () => {
  const dir = await tempDir();
  const store = await openSqliteStore(dir);
  await mkdir(join(dir, "token")); // reading it fails with EISDIR
  await assert.rejects(
    ensureLocalUser(never, store, dir, () => {}),
    { code: "EISDIR" },
  );
  assert.equal(await store.countUsers(never), 0, "nothing created");
  await store.close();
});
