/** `cancelkit serve` that cannot start says why, naming the flags to change, and exits 1 with nothing left running. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { spawnCli } from "../helpers/spawn.ts";

async function serve(t: { after(fn: () => unknown): void }, args: string[]) {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-start-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  return { dataDir, run: () => spawnCli(["serve", "--workers", "1", "--data-dir", dataDir, ...args]) };
}

test("the port is taken: exit 1, 'cannot listen on HOST:PORT (--host, --port)'", async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.after(() => taken.close());
  const { port } = taken.address() as AddressInfo;
  const { run } = await serve(t, ["--port", String(port)]);
  const cli = run();
  t.after(() => cli.kill());
  assert.equal(await cli.exited, 1);
  assert.match(
    cli.stderr(),
    new RegExp(
      `^cancelkit serve: cannot listen on 127\\.0\\.0\\.1:${port} \\(--host, --port\\): .*EADDRINUSE`,
      "m",
    ),
  );
});

test("the database file is not a database: exit 1, naming the file and --data-dir", async (t) => {
  const { dataDir, run } = await serve(t, ["--port", "0"]);
  const file = join(dataDir, "cancelkit.db");
  await writeFile(file, randomBytes(10_000));
  const cli = run();
  t.after(() => cli.kill());
  assert.equal(await cli.exited, 1);
  assert.ok(
    cli.stderr().includes(`cancelkit serve: cannot use ${file} (--data-dir): file is not a database`),
    cli.stderr(),
  );
});

test("a --host that does not resolve: exit 1, 'cannot listen on HOST:PORT (--host, --port)', not --data-dir", async (t) => {
  // .invalid never resolves (RFC 6761); listen() fails in its DNS lookup, whose error says getaddrinfo, not listen.
  const { run } = await serve(t, ["--port", "0", "--host", "no-such-host.invalid"]);
  const cli = run();
  t.after(() => cli.kill());
  assert.equal(await cli.exited, 1);
  assert.match(
    cli.stderr(),
    /^cancelkit serve: cannot listen on no-such-host\.invalid:0 \(--host, --port\): .*getaddrinfo/m,
  );
  assert.doesNotMatch(cli.stderr(), /--data-dir/);
});

/** The tables, schema version and journal mode of a SQLite file, read without changing it. */
function describeDatabase(file: string) {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return {
      tables: db
        .prepare("SELECT name FROM sqlite_master ORDER BY name")
        .all()
        .map((row) => row.name),
      userVersion: db.prepare("PRAGMA user_version").get()?.user_version,
      journalMode: db.prepare("PRAGMA journal_mode").get()?.journal_mode,
    };
  } finally {
    db.close();
  }
}

for (const [what, setup, why] of [
  [
    "another program's SQLite database",
    "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')",
    "not a cancelkit database: it has tables (notes) but no cancelkit schema version",
  ],
  [
    "a database of a newer cancelkit",
    "CREATE TABLE future (x); PRAGMA user_version = 99",
    "database schema version 99 is newer than this cancelkit supports",
  ],
] as const) {
  // The timeout: a server that takes the file starts serving and never exits.
  test(`${what}: exit 1, naming the file and --data-dir, and the file is left as it was`, {
    timeout: 30_000,
  }, async (t) => {
    const { dataDir, run } = await serve(t, ["--port", "0"]);
    const file = join(dataDir, "cancelkit.db");
    const db = new DatabaseSync(file);
    db.exec(setup);
    db.close();
    const before = describeDatabase(file);
    const cli = run();
    t.after(() => cli.kill());
    assert.equal(await cli.exited, 1);
    assert.ok(
      cli.stderr().includes(`cancelkit serve: cannot use ${file} (--data-dir): ${why}`),
      cli.stderr(),
    );
    // Neither our tables added to it nor its journal switched to WAL.
    assert.deepEqual(describeDatabase(file), before);
    assert.equal(before.journalMode, "delete");
  });
}
