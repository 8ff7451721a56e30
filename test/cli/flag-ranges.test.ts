/**
 * Numbers and durations on the command line: a value out of range is a usage error (exit 2) naming the flag and
 * the range, never a call that fails later, an overflowing timer, or no deadline at all.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { delay } from "../../src/abort.ts";
import { parseDue } from "../../src/cli/due-date.ts";
import { resolveServerOptions } from "../../src/server/options.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { spawnCli } from "../helpers/spawn.ts";

describe("flag ranges", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ maximumHashes: 50_000 });
  });
  after(() => s.close());

  async function run(args: string[]) {
    const cli = spawnCli(args, { CANCELKIT_TOKEN: undefined });
    // A `serve` that should have been refused may be serving instead: do not wait for it forever.
    const listening = new Promise<string>((resolve) => {
      cli.child.stderr?.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes('"event":"listening"')) resolve("listening");
      });
    });
    try {
      const code = await Promise.race([cli.exited, listening]);
      return { code, stdout: cli.stdout(), stderr: cli.stderr() };
    } finally {
      cli.kill();
    }
  }

  test("--timeout: beyond what grpc-timeout carries, or rounding to 0 ms, is exit 2 naming the range", async () => {
    // 25d overflowed the client's timer (exit 4 at once), 28h became "100800000m" (9 digits, exit 3 from the
    // server), and 0.4ms rounded to 0, which Connect sends as no deadline at all.
    for (const bad of ["25d", "28h", "0.4ms"]) {
      const r = await run(["find", "aa", "--timeout", bad, "--server", s.address]);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.equal(r.stderr, `cancelkit: --timeout: "${bad}" must be from 1ms to 24h\n`);
    }
    const todo = await run(["todo", "list", "--timeout", "28h", "--server", s.address, "--token", "t"]);
    assert.equal(todo.code, 2, todo.stderr);
    assert.match(todo.stderr, /^cancelkit: --timeout: "28h" must be from 1ms to 24h$/m);
    // The longest accepted deadline goes out as a valid grpc-timeout ("86400000m", 8 digits): the call answers.
    const longest = await run(["find", "aa", "--timeout", "24h", "--server", s.address]);
    assert.equal(longest.code, 0, longest.stderr);
  });

  test("--grace beyond a day (a timer's limit is 24.8 days) is exit 2 naming the range", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-grace-"));
    try {
      const r = await run(["serve", "--port", "0", "--data-dir", dataDir, "--grace", "25d"]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, 'cancelkit: --grace: "25d" must be from 0 to 24h\n');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
    assert.equal(resolveServerOptions({ grace: "24h" }).graceMs, 86_400_000);
    assert.equal(resolveServerOptions({ grace: "0" }).graceMs, 0);
  });

  test("a wait longer than a timer holds is clamped to the longest, not turned into 1 ms", async () => {
    const stop = new AbortController();
    const waited = delay(stop.signal, 25 * 86_400_000).then(() => "ended");
    const early = await Promise.race([waited, delay(AbortSignal.timeout(5000), 50).then(() => "waiting")]);
    stop.abort(new Error("done"));
    await waited.catch(() => {});
    assert.equal(early, "waiting");
  });

  test("--due as a duration past 9999-12-31 is exit 2 naming --due, not a crash", async () => {
    // 3000000d went to the server (exit 3, due_date out of range); 400 digits is Infinity ms: exit 1, a RangeError.
    for (const bad of ["3000000d", "9".repeat(400)]) {
      const r = await run(["todo", "add", "x", "--due", bad, "--server", s.address, "--token", s.localToken]);
      assert.equal(r.code, 2, `${bad.slice(0, 10)}: ${r.stderr}`);
      assert.match(r.stderr, /^cancelkit: --due: "\d+d?" from now is after 9999-12-31T23:59:59Z/);
    }
    const now = Date.UTC(2026, 0, 1);
    assert.deepEqual(parseDue("1.5s", "--due", now), { seconds: BigInt(now / 1000 + 1), nanos: 500_000_000 });
  });

  test("--ideal and --show-inferior: 0 to 28 (a distance counts NAME's characters); more is exit 2", async () => {
    // 99999999999 passed the old check, then failed to encode as int32: exit 1 "error (Internal): serialize…".
    for (const flag of ["--ideal", "--show-inferior"]) {
      for (const bad of ["99999999999", "29"]) {
        const r = await run(["find", "aa", flag, bad, "--server", s.address]);
        assert.equal(r.code, 2, `${flag} ${bad}: ${r.stderr}`);
        assert.equal(r.stderr, `cancelkit: ${flag}: "${bad}" must be a whole number from 0 to 28\n`);
      }
    }
    const widest = await run(["find", "aa", "--ideal", "28", "--show-inferior", "28", "--server", s.address]);
    assert.equal(widest.code, 0, widest.stderr);
  });

  test("numeric server flags: '_' and '' are not 0; digits grouped with '_' still are numbers", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-port-"));
    try {
      for (const bad of ["_", ""]) {
        const r = await run(["serve", "--port", bad, "--data-dir", dataDir]);
        assert.equal(r.code, 2, `"${bad}": ${r.stderr}`);
        assert.equal(r.stderr, `cancelkit: --port: "${bad}" must be a whole number from 0 to 65535\n`);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
    for (const [flag, key] of [
      ["--workers", "workers"],
      ["--maximum-hashes", "maximumHashes"],
      ["--max-running", "maxRunning"],
      ["--max-queued", "maxQueued"],
      ["--max-per-client", "maxPerClient"],
    ] as const) {
      for (const bad of ["_", "__", "_1", "1_", "1__0", " ", ""]) {
        assert.throws(
          () => resolveServerOptions({ [key]: bad }),
          (error: unknown) => error instanceof RangeError && error.message.startsWith(`${flag}: "${bad}"`),
          `${flag} "${bad}"`,
        );
      }
    }
    assert.equal(resolveServerOptions({ maximumHashes: "1_000_000" }).maximumHashes, 1_000_000);
  });

  test("--server: a port outside 1–65535 or an address no URL holds is exit 2 naming --server", async () => {
    // 127.0.0.1:99999 and 256.0.0.1:80 ended as "cancelkit: Invalid URL"; port 0 as "server unreachable".
    for (const bad of ["127.0.0.1:99999", "127.0.0.1:0", "256.0.0.1:80", "[::1::]:80"]) {
      for (const command of [
        ["find", "aa"],
        ["todo", "list", "--token", "t"],
      ]) {
        const r = await run([...command, "--server", bad]);
        assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
        assert.equal(r.stderr, `cancelkit: --server: "${bad}" must be HOST:PORT, e.g. 127.0.0.1:50051\n`);
      }
    }
  });

  test("a negative number after a flag reaches the flag's own check (parseArgs called it ambiguous)", async () => {
    for (const [args, message] of [
      [["find", "doct", "--ideal", "-1"], '--ideal: "-1" must be a whole number from 0 to 28'],
      [
        ["find", "doct", "--show-inferior", "-2"],
        '--show-inferior: "-2" must be a whole number from 0 to 28',
      ],
      [["find", "doct", "--timeout", "-1s"], '--timeout: "-1s" is not a duration'],
      [["serve", "--port", "-1"], '--port: "-1" must be a whole number from 0 to 65535'],
      [["todo", "add", "x", "--due", "-1h", "--token", "t"], '--due: "-1h" is neither a duration'],
    ] as const) {
      const r = await run([...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.ok(r.stderr.startsWith(`cancelkit: ${message}`), r.stderr);
    }
    // After "--" every word is a positional, as parseArgs has it: no joining there.
    const afterDashes = await run(["find", "--", "-doct", "--ideal", "-1"]);
    assert.equal(afterDashes.stderr, "cancelkit: find takes exactly one NAME\n");
  });

  test("users add: a name with a control character or over 64 characters is exit 2, and no user is made", async () => {
    for (const bad of ["ev\nil", "tab\there", "x".repeat(65)]) {
      const r = await run(["users", "add", bad, "--data-dir", s.dataDir]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "", "no token printed");
      assert.match(r.stderr, /^cancelkit: users add: NAME must be at most 64 characters, with no control/);
    }
    const longest = await run(["users", "add", "y".repeat(64), "--data-dir", s.dataDir]);
    assert.equal(longest.code, 0, longest.stderr);
  });

  test("an empty --data-dir is exit 2 naming the flag for every command that takes one", async () => {
    // serve and users add failed with exit 1, "cannot use cancelkit.db (--data-dir): ENOENT … mkdir ''".
    for (const command of [
      ["serve", "--port", "0"],
      ["users", "add", "x"],
      ["todo", "list"],
    ]) {
      const r = await run([...command, "--data-dir", ""]);
      assert.equal(r.code, 2, `${command[0]}: ${r.stderr}`);
      assert.equal(r.stderr, "cancelkit: --data-dir: must not be empty\n", command[0]);
    }
  });

  test("--server=HOST:PORT: the unreachable message names that address", async () => {
    const r = await run(["find", "aa", "--server=127.0.0.1:1"]);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /^server unreachable at 127\.0\.0\.1:1: /);
  });
});
