import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
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
  assert.equal(lines.length, 1, "nothing logged when a user already exists");
  await again.close();
});

test("tokens are 43 base64url characters and never start with '-', which the CLI's --token would take for an option", () => {
  // One token in 64 started with "-"; over 2,000 draws, a generator that allowed it fails this nearly surely.
  for (let i = 0; i < 2000; i++) {
    const token = newToken();
    assert.match(token, /^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
  }
});

test("two servers starting at once on a fresh data dir: the one that finds 'local' created by the other meanwhile starts too", async () => {
  const dir = await tempDir();
  const first = await openSqliteStore(dir);
  const second = await openSqliteStore(dir);
  // The second server counts no user; the first creates 'local' (and writes the token file) before the second's
  // create: with two `cancelkit serve` on one new data dir, one of them failed about one start in three with
  // "cannot use …/cancelkit.db (--data-dir): user "local" already exists".
  const racing = {
    countUsers: async (signal: AbortSignal) => {
      const count = await second.countUsers(signal);
      await ensureLocalUser(signal, first, dir, () => {});
      return count;
    },
    createUser: (signal: AbortSignal, name: string) => second.createUser(signal, name),
  };
  const lines: string[] = [];
  const path = await ensureLocalUser(never, racing, dir, (message) => lines.push(message));
  assert.equal(await second.countUsers(never), 1, "still one user");
  assert.notEqual(await second.userForToken(never, await readTokenFile(path)), undefined);
  assert.deepEqual(lines, [], "the server that did not create the user logs nothing about it");
  await first.close();
  await second.close();
});
