/** `cancelkit todo` and `cancelkit users` as a person runs them, against a server in this process. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { delay } from "../../src/abort.ts";
import { parseDue } from "../../src/cli/due-date.ts";
import { EXIT } from "../../src/cli/exit-codes.ts";
import { defer } from "../helpers/defer.ts";
import { startDelayProxy } from "../helpers/delay-proxy.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { CLI, runCli, type Spawned, spawnCli } from "../helpers/spawn.ts";

/** The CLI run with no CANCELKIT_TOKEN from the test's own environment, unless `env` gives one. */
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(args, { CANCELKIT_TOKEN: undefined, ...env });

describe("cancelkit todo", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  const todo = (...args: string[]) => run(["todo", ...args, "--server", s.address, "--data-dir", s.dataDir]);

  test("add, list (--json, --fields), update several ids in one stream, delete; due nanos exact", async () => {
    const a = await todo("add", "buy milk", "--due", "2h", "--json");
    assert.equal(a.code, 0, a.stderr);
    const id = (JSON.parse(a.stdout) as { id: string }).id;
    const b = await todo("add", "precise", "--due", "2099-01-02T03:04:05.123456789+01:00");
    assert.equal(b.code, 0, b.stderr);
    const other = /added task (\d+)/.exec(b.stdout)?.[1];
    assert.ok(other !== undefined);

    const listed = await todo("list", "--json");
    const rows = listed.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows[1], {
      id: other,
      description: "precise",
      done: false,
      dueDate: "2099-01-02T02:04:05.123456789Z",
      overdue: false,
    });
    const masked = await todo("list", "--json", "--fields", "id,description");
    assert.deepEqual(JSON.parse(masked.stdout.split("\n")[0] ?? ""), {
      id,
      description: "buy milk",
      overdue: false,
    });
    // Empty entries name no field (they were sent as the path "", and refused): "" is every field.
    const spaced = await todo("list", "--json", "--fields", "id,, description,");
    assert.equal(spaced.stdout, masked.stdout, spaced.stderr);
    const everything = await todo("list", "--json", "--fields", "");
    assert.equal(everything.code, 0, everything.stderr);
    assert.deepEqual(Object.keys(JSON.parse(everything.stdout.split("\n")[0] ?? "")).sort(), [
      "description",
      "done",
      "dueDate",
      "id",
      "overdue",
    ]);

    const updated = await todo("update", id, other, "--done", "--description", "both done");
    assert.equal(updated.code, 0, updated.stderr);
    const human = await todo("list");
    assert.match(human.stdout, new RegExp(`#${id} +\\[x\\] {2}both done {2}due `));
    assert.match(
      human.stdout,
      new RegExp(`#${other} +\\[x\\] {2}both done {2}due 2099-01-02T02:04:05.123456789Z`),
    );

    const missing = await todo("update", id, "999999", "--not-done");
    assert.equal(missing.code, 7);
    assert.match(missing.stderr, /^not found: task 999999 not found/);
    assert.match((await todo("list")).stdout, /\[x\]/, "nothing of the failed stream was applied");

    const deleted = await todo("delete", id, other);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `deleted task ${id}\ndeleted task ${other}\n`);
    assert.equal((await todo("list")).stdout, "");
  });

  test("bad input: usage errors exit 2; a past due date is INVALID_ARGUMENT (exit 3) naming due_date", async () => {
    const usage = await todo("add", "x", "--due", "tomorrow-ish");
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--due/);
    const past = await todo("add", "x", "--due", "2001-01-01T00:00Z");
    assert.equal(past.code, 3);
    assert.match(past.stderr, /^invalid argument: due_date: must not be in the past/);
    const flag = await todo("list", "--due", "2h");
    assert.equal(flag.code, 2);
  });

  test("--due: a UTC offset beyond 23:59 is exit 2 naming --due, not a date moved by it", async () => {
    // "+99:99" was read as 99 h 99 min and the task added, due 4 days off what the user typed.
    for (const bad of ["2099-01-01T00:00:00+99:99", "2099-01-01T00:00:00-24:00", "2099-01-01T00:00+01:60"]) {
      const r = await todo("add", "x", "--due", bad);
      assert.equal(r.code, 2, `${bad}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^cancelkit: --due: "[^"]+" is neither a duration/);
    }
    assert.deepEqual(parseDue("2099-01-01T23:59:00+23:59", "--due"), parseDue("2099-01-01T00:00Z", "--due"));
    assert.deepEqual(parseDue("2099-01-01T00:00:00-23:59", "--due"), parseDue("2099-01-01T23:59Z", "--due"));
  });

  test("list: a description's control characters are shown as escapes, one line per task; --json keeps them", async () => {
    // A newline printed as it was split the task over two lines; an ESC sequence drove the terminal.
    const description = "first line\nsecond\tline \u001b[2J\u009b end";
    const a = await todo("add", description, "--due", "1h", "--json");
    assert.equal(a.code, 0, a.stderr);
    const id = (JSON.parse(a.stdout) as { id: string }).id;
    try {
      const human = await todo("list");
      const line = human.stdout.split("\n").find((l) => l.startsWith(`#${id} `));
      assert.ok(line?.includes("  first line\\nsecond\\tline \\u001b[2J\\u009b end  due "), line);
      for (const l of human.stdout.split("\n")) assert.doesNotMatch(l, /\p{Cc}/u);
      const json = await todo("list", "--json");
      const row = json.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { id: string; description: string })
        .find((r) => r.id === id);
      assert.equal(row?.description, description);
    } finally {
      await todo("delete", id);
    }
  });

  test("task IDs above 2^64-1 (the proto's uint64) are usage errors naming the value and the range", async () => {
    // They used to reach the serializer: "error (Internal): serialize binary ... invalid uint64", exit 1.
    const tooBig = "18446744073709551616";
    for (const args of [
      ["delete", tooBig],
      ["update", "1", tooBig, "--done"],
    ]) {
      const r = await todo(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr, `cancelkit: task ID "${tooBig}" must be from 1 to 18446744073709551615\n`);
    }
    // The largest uint64 is a valid ID that no task has: the server answers NOT_FOUND.
    const largest = await todo("delete", "18446744073709551615");
    assert.equal(largest.code, 7, largest.stderr);
    assert.match(largest.stderr, /^not found: task 18446744073709551615 not found/);
  });

  test("token: --token, then CANCELKIT_TOKEN, then DATA_DIR/token; unknown or none → exit 8", async () => {
    const wrong = await todo("list", "--token", "nope");
    assert.equal(wrong.code, 8);
    assert.match(wrong.stderr, /^unauthenticated: unknown token/);
    const none = await run(["todo", "list", "--server", s.address, "--data-dir", `${s.dataDir}/missing`]);
    assert.equal(none.code, 8);
    assert.match(none.stderr, /no token/);

    // A token file that cannot be read, or is empty: exit 8 naming the file, not "error (Unknown): …" (exit 1).
    const tokenAsDir = await mkdtemp(join(tmpdir(), "cancelkit-tokendir-"));
    await mkdir(join(tokenAsDir, "token"));
    const emptyToken = await mkdtemp(join(tmpdir(), "cancelkit-emptytoken-"));
    await writeFile(join(emptyToken, "token"), "\n");
    try {
      for (const [dataDir, why] of [
        [join(s.dataDir, "token"), /token cannot be read: ENOTDIR/], // a file as --data-dir
        [tokenAsDir, /token cannot be read: EISDIR/],
        [emptyToken, /token is empty\)$/m],
      ] as const) {
        const r = await run(["todo", "list", "--server", s.address, "--data-dir", dataDir]);
        assert.equal(r.code, 8, r.stderr);
        assert.match(r.stderr, /^unauthenticated: no token: pass --token, /);
        assert.match(r.stderr, why);
      }
    } finally {
      await rm(tokenAsDir, { recursive: true });
      await rm(emptyToken, { recursive: true });
    }

    // A token a header cannot carry: exit 8 naming where it came from, never the token itself (it was printed in
    // "error (Unknown): Headers.append: "Bearer …" is an invalid header value", exit 1).
    const secret = "s3cr3t\nmore";
    for (const [args, env, from] of [
      [["--token", secret], {}, "--token"],
      [[], { CANCELKIT_TOKEN: secret }, "CANCELKIT_TOKEN"],
    ] as const) {
      const r = await run(["todo", "list", "--server", s.address, ...args], env);
      assert.equal(r.code, 8, r.stderr);
      assert.equal(
        r.stderr,
        `unauthenticated: the token from ${from} is no token: it holds spaces, control or non-ASCII characters\n`,
      );
    }

    // An empty one is a mistake (`--token "$BOB"` with $BOB unset), refused naming it: it used to fall through to
    // the data dir's token and act as user local. Exit 2 before any call is made.
    for (const [args, env, from] of [
      [["--token", ""], {}, "--token"],
      [[], { CANCELKIT_TOKEN: "" }, "CANCELKIT_TOKEN"],
      [["--token", ""], { CANCELKIT_TOKEN: s.localToken }, "--token"],
    ] as const) {
      const r = await run(["todo", "list", "--server", s.address, "--data-dir", s.dataDir, ...args], env);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`^cancelkit: ${from} is empty: give a token, or leave it out`));
    }

    // users add opens the database while the server runs (WAL) and prints only the token on stdout.
    const created = await run(["users", "add", "carol", "--data-dir", s.dataDir]);
    assert.equal(created.code, 0, created.stderr);
    const carol = created.stdout.trim();
    assert.match(carol, /^[\w-]{43}$/);
    assert.equal((await run(["users", "add", "carol", "--data-dir", s.dataDir])).code, 9);
    // A --data-dir that is a file: it read "error (Unknown): EEXIST: … mkdir", exit 1, naming no flag.
    const tokenFile = join(s.dataDir, "token");
    const notDir = await run(["users", "add", "dave", "--data-dir", tokenFile]);
    assert.equal(notDir.code, 1, notDir.stderr);
    assert.match(
      notDir.stderr,
      new RegExp(`^cancelkit users: cannot use ${tokenFile}/cancelkit\\.db \\(--data-dir\\): .+\n$`),
    );

    const mine = await run(["todo", "add", "carol's", "--due", "1h", "--server", s.address], {
      CANCELKIT_TOKEN: carol,
    });
    assert.equal(mine.code, 0, mine.stderr);
    const carols = await run(["todo", "list", "--server", s.address], { CANCELKIT_TOKEN: carol });
    assert.match(carols.stdout, /carol's/);
    assert.doesNotMatch((await todo("list")).stdout, /carol's/, "the local user does not see carol's task");
  });

  test("demo: the book's scenario, cancelling the listing at the first overdue task", {
    timeout: 30_000,
  }, async () => {
    const demo = await todo("demo");
    assert.equal(demo.code, 0, demo.stderr);
    assert.match(demo.stdout, /--- waiting \d\.\d s until task (\d+) is overdue/);
    const overdue = /until task (\d+) is overdue/.exec(demo.stdout)?.[1];
    assert.match(
      demo.stdout,
      new RegExp(
        `#${overdue} .*OVERDUE\\nclient: cancelled the stream \\(RST_STREAM CANCEL\\) at overdue task ${overdue}`,
      ),
    );
    assert.match(demo.stdout, /--- list\n\(no tasks\)\n$/);
    const listings = s.log.entries.filter(
      (e) => e.event === "call" && e.method === "todo.v2.TodoService/ListTasks",
    );
    assert.ok(listings.length >= 4, "the demo lists four times, each call logged by the server");
    // The cancelled listing was long: the server was still streaming and stopped when the cancel arrived.
    const cancelled = listings.filter((e) => e.outcome === "CANCELLED");
    assert.equal(cancelled.length, 1, JSON.stringify(listings));
    assert.equal(cancelled[0]?.cause, "client-cancelled");
    assert.ok(Number(cancelled[0]?.messages) < 3003, JSON.stringify(cancelled[0]));
  });

  test("demo --json: stdout is JSON lines only (the tasks), the story on stderr", {
    timeout: 30_000,
  }, async () => {
    // stdout used to mix the demo's headings ("--- list", "added tasks 1, 2 …") into the JSON lines.
    const demo = await todo("demo", "--json");
    assert.equal(demo.code, 0, demo.stderr);
    const lines = demo.stdout.trimEnd().split("\n");
    const objects = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(
      objects.some((o) => o.overdue === true),
      "the cancelled listing's overdue task is among the JSON lines",
    );
    assert.equal(objects.filter((o) => "deleted" in o).length, 3, demo.stdout);
    assert.match(demo.stderr, /--- list, cancelling the stream at the first overdue task/);
    assert.match(demo.stderr, /client: cancelled the stream \(RST_STREAM CANCEL\)/);
  });

  test("demo without --server runs its own server and shows what it did with the cancelled listing", {
    timeout: 60_000,
  }, async () => {
    const cli = spawnCli(["todo", "demo"]);
    try {
      assert.equal(await cli.exited, 0, cli.stderr());
      assert.match(
        cli.stdout(),
        /\nserver: ListTasks ended CANCELLED, cause client-cancelled, after streaming \d+ of 3003 tasks/,
      );
    } finally {
      cli.kill();
    }
  });

  /** Adds tasks for the local user, one after another (ids in order), through the API. */
  async function addTasks(...descriptions: string[]): Promise<bigint[]> {
    const client = s.todo();
    const ids: bigint[] = [];
    for (const description of descriptions) {
      ids.push((await client.addTask({ description, dueDate: parseDue("1h", "due") })).id);
    }
    return ids;
  }

  const sortedIds = (ids: bigint[]) => [...ids].sort((a, b) => (a < b ? -1 : 1));

  async function remainingIds(): Promise<Set<bigint>> {
    const ids = new Set<bigint>();
    for await (const res of s.todo().listTasks({})) ids.add(res.task?.id ?? 0n);
    return ids;
  }

  /** The ids of `cancelkit todo delete … 1 2 $(seq 4 9) …` as the shell would expand them. */
  function shellIds(command: string): bigint[] {
    const ids: bigint[] = [];
    for (const m of command.matchAll(/\$\(seq (\d+) (\d+)\)|(\d+)/g)) {
      if (m[3] !== undefined) ids.push(BigInt(m[3]));
      else for (let id = BigInt(m[1] ?? ""); id <= BigInt(m[2] ?? ""); id++) ids.push(id);
    }
    return ids;
  }

  /** Deletes tasks of the local user through the API, 16 streams at once. */
  async function deleteTasks(ids: readonly bigint[]): Promise<void> {
    const size = Math.ceil(ids.length / 16);
    await Promise.all(
      Array.from({ length: 16 }, async (_, n) => {
        const mine = ids.slice(n * size, (n + 1) * size);
        if (mine.length === 0) return;
        const requests = (async function* () {
          for (const id of mine) yield { id };
        })();
        for await (const _ of s.todo().deleteTasks(requests));
      }),
    );
  }

  /** The local user's task ids that were not there `before`. */
  async function idsSince(before: Set<bigint>): Promise<bigint[]> {
    return [...(await remainingIds())].filter((id) => !before.has(id));
  }

  /** `todo demo` against the test server, with the local token file (no CANCELKIT_TOKEN from outside). */
  function spawnDemo(): Spawned {
    return spawnCli(["todo", "demo", "--server", s.address, "--data-dir", s.dataDir], {
      CANCELKIT_TOKEN: undefined,
    });
  }

  /** Waits for `reached`, failing with the CLI's stderr if the CLI exits first. */
  async function beforeExit(cli: Spawned, reached: Promise<unknown>, what: string): Promise<void> {
    await Promise.race([
      reached,
      cli.exited.then((code) => {
        throw new Error(`the CLI exited (${code}) before ${what}: ${cli.stderr()}`);
      }),
    ]);
  }

  /**
   * Ctrl-C, then a second one 500 ms later (inside the first one's 2 s wait for answers in flight): the CLI must
   * exit 130 within 1.5 s of the first.
   */
  async function secondCtrlCEndsIt(cli: Spawned): Promise<void> {
    cli.child.kill("SIGINT");
    const firstAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    cli.child.kill("SIGINT");
    const code = await cli.exited;
    const waited = performance.now() - firstAt;
    assert.equal(code, 130, cli.stderr());
    assert.ok(waited < 1500, `exited ${waited.toFixed(0)} ms after the first Ctrl-C; the wait is 2 s`);
  }

  /** For a store method stubbed to hang: rejects with the call's reason once the call ends. */
  function untilCallEnds(signal: AbortSignal): Promise<never> {
    return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
  }

  test("Ctrl-C while a delete is in flight: its answer is still awaited and printed, exit 130", {
    timeout: 30_000,
  }, async () => {
    // 150 ms each way between the CLI and the server: B's answer is still on its way when Ctrl-C comes.
    const [a, b, c] = await addTasks("A", "B", "C");
    const proxy = await startDelayProxy(s.address, 150);
    const store = s.server.store;
    const deleteTask = store.deleteTask;
    const bCommitted = defer();
    store.deleteTask = async (signal, userId, id) => {
      await deleteTask.call(store, signal, userId, id);
      if (id === b) bCommitted.resolve();
    };
    const cli = spawnCli(
      ["todo", "delete", `${a}`, `${b}`, `${c}`, "--server", proxy.address, "--data-dir", s.dataDir],
      { CANCELKIT_TOKEN: undefined },
    );
    try {
      await beforeExit(cli, bCommitted.promise, "B's delete committed");
      cli.child.kill("SIGINT");
      assert.equal(await cli.exited, 130, cli.stderr());
      assert.match(cli.stderr(), /cancelled\n$/);
      const printed = [...cli.stdout().matchAll(/^deleted task (\d+)$/gm)].map((m) => BigInt(m[1] ?? ""));
      const remaining = await remainingIds();
      const gone = [a, b, c].filter((id) => id !== undefined && !remaining.has(id));
      assert.deepEqual(gone, [a, b], "no delete is sent after Ctrl-C");
      // Exactly the printed deletes were applied; if B's answer could not come within the wait (a very slow
      // machine), the CLI must say that B's delete was in flight and may have been applied.
      const named = new RegExp(`^task ${b}: its delete was in flight and got no answer`, "m").test(
        cli.stderr(),
      );
      assert.deepEqual(printed, named ? [a] : [a, b], `stdout=${cli.stdout()} stderr=${cli.stderr()}`);
    } finally {
      cli.kill();
      store.deleteTask = deleteTask;
      await proxy.close();
    }
  });

  test("a delete whose answer never comes: after Ctrl-C the CLI waits 2 s, then names it as maybe applied", {
    timeout: 30_000,
  }, async () => {
    const [a, b, c] = await addTasks("A", "B", "C");
    const store = s.server.store;
    const deleteTask = store.deleteTask;
    const bStarted = defer();
    store.deleteTask = async (signal, userId, id) => {
      if (id !== b) return deleteTask.call(store, signal, userId, id);
      bStarted.resolve();
      // Hangs until the call ends.
      await untilCallEnds(signal);
    };
    const cli = spawnCli(
      ["todo", "delete", `${a}`, `${b}`, `${c}`, "--server", s.address, "--data-dir", s.dataDir],
      { CANCELKIT_TOKEN: undefined },
    );
    try {
      await beforeExit(cli, bStarted.promise, "B's delete started");
      cli.child.kill("SIGINT");
      assert.equal(await cli.exited, 130, cli.stderr());
      assert.equal(cli.stdout(), `deleted task ${a}\n`);
      assert.equal(
        cli.stderr(),
        `task ${b}: its delete was in flight and got no answer (no answer within 2 s); it may have been applied\ncancelled\n`,
      );
      const remaining = await remainingIds();
      assert.deepEqual(
        [a, b, c].map((id) => id !== undefined && remaining.has(id)),
        [false, true, true],
      );
    } finally {
      cli.kill();
      store.deleteTask = deleteTask;
    }
  });

  test("a second Ctrl-C while the CLI waits for the delete in flight ends it at once, naming that delete", {
    timeout: 30_000,
  }, async () => {
    // Requests reach the server at once, answers take 3 s: B's answer cannot come before the 2 s wait is over.
    const [a, b, c] = await addTasks("A", "B", "C");
    const proxy = await startDelayProxy(s.address, { toServerMs: 0, toClientMs: 3000 });
    const ended = s.nextCallLog("todo.v2.TodoService/DeleteTasks");
    const cli = spawnCli(
      ["todo", "delete", `${a}`, `${b}`, `${c}`, "--server", proxy.address, "--data-dir", s.dataDir],
      { CANCELKIT_TOKEN: undefined },
    );
    try {
      // A's answer is printed; B is sent right after it.
      await cli.printed(new RegExp(`^deleted task ${a}$`, "m"));
      cli.child.kill("SIGINT");
      const firstAt = performance.now();
      // The first Ctrl-C was acted on: the CLI half-closed, so the server, having answered B, ended the call.
      const line = await ended;
      assert.equal(line.outcome, "ok", JSON.stringify(line));
      assert.equal(line.messages, 2, JSON.stringify(line));
      cli.child.kill("SIGINT");
      const code = await cli.exited;
      const waited = performance.now() - firstAt;
      assert.equal(code, 130, cli.stderr());
      assert.ok(waited < 1000, `exited ${waited.toFixed(0)} ms after the first Ctrl-C; the wait is 2 s`);
      assert.equal(cli.stdout(), `deleted task ${a}\n`);
      assert.equal(
        cli.stderr(),
        `task ${b}: its delete was in flight and got no answer (a second Ctrl-C); it may have been applied\ncancelled\n`,
      );
      const remaining = await remainingIds();
      assert.deepEqual(
        [a, b, c].map((id) => id !== undefined && remaining.has(id)),
        [false, false, true],
        "B's delete was applied: its answer was on its way",
      );
    } finally {
      cli.kill();
      await proxy.close();
    }
  });

  test("--timeout while a delete is in flight: its answer is still printed, then exit 4", {
    timeout: 30_000,
  }, async () => {
    const [a, b, c] = await addTasks("A", "B", "C");
    const store = s.server.store;
    const deleteTask = store.deleteTask;
    store.deleteTask = async (signal, userId, id) => {
      if (id !== b) return deleteTask.call(store, signal, userId, id);
      // B's delete commits only after the CLI's 1 s deadline has passed, whatever the call's signal says (a
      // commit that has started completes).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return deleteTask.call(store, new AbortController().signal, userId, id);
    };
    const cli = spawnCli(
      [
        "todo",
        "delete",
        `${a}`,
        `${b}`,
        `${c}`,
        "--timeout",
        "1s",
        "--server",
        s.address,
        "--data-dir",
        s.dataDir,
      ],
      { CANCELKIT_TOKEN: undefined },
    );
    try {
      assert.equal(await cli.exited, 4, cli.stderr());
      assert.equal(cli.stderr(), "deadline exceeded: the operation timed out\n");
      assert.equal(cli.stdout(), `deleted task ${a}\ndeleted task ${b}\n`);
      const remaining = await remainingIds();
      assert.deepEqual(
        [a, b, c].map((id) => id !== undefined && remaining.has(id)),
        [false, false, true],
      );
    } finally {
      cli.kill();
      store.deleteTask = deleteTask;
    }
  });

  test("demo --server interrupted after adding its fillers: it deletes them before exiting 130", {
    timeout: 60_000,
  }, async () => {
    // While the fillers are being added (adds in flight), and during the cancelled listing.
    for (const phase of [/--- add 3000 more tasks/, /--- list, cancelling/]) {
      const cli = spawnDemo();
      try {
        await cli.printed(phase, 30_000);
        cli.child.kill("SIGINT");
        assert.equal(await cli.exited, 130, cli.stderr());
        assert.equal(cli.stderr(), "cancelled\n", `${phase}`);
        const fillers: string[] = [];
        for await (const res of s.todo().listTasks({})) {
          if (/^filler task /.test(res.task?.description ?? "")) fillers.push(res.task?.description ?? "");
        }
        assert.equal(fillers.length, 0, `${phase}: ${fillers.length} filler tasks left`);
      } finally {
        cli.kill();
      }
    }
  });

  test("demo --server ended by SIGTERM (a supervisor, `timeout`): it deletes its tasks as on Ctrl-C, exit 143", {
    timeout: 30_000,
  }, async () => {
    // SIGTERM killed it outright: the tasks added so far (up to 3,003) stayed in the user's list, unnamed.
    const cli = spawnDemo();
    try {
      await cli.printed(/--- add 3000 more tasks/, 20_000);
      cli.child.kill("SIGTERM");
      assert.equal(await cli.exited, EXIT.terminated, cli.stderr());
      assert.equal(cli.stderr(), "cancelled\n");
      const left: string[] = [];
      for await (const res of s.todo().listTasks({})) left.push(res.task?.description ?? "");
      assert.deepEqual(
        left.filter((d) =>
          /^filler task |^write and review the chapter$|^call the printer$|^buy coffee$/.test(d),
        ),
        [],
      );
    } finally {
      cli.kill();
    }
  });

  test("demo --server interrupted before its fillers: it deletes its three tasks too before exiting 130", {
    timeout: 30_000,
  }, async () => {
    // They used to stay in the user's list: only the fillers were deleted in the demo's `finally`.
    const cli = spawnDemo();
    try {
      await cli.printed(/--- waiting/);
      cli.child.kill("SIGINT");
      assert.equal(await cli.exited, 130, cli.stderr());
      assert.equal(cli.stderr(), "cancelled\n");
      const added = /added tasks (\d+), (\d+) \(due in [\d.]+ s\) and (\d+)/.exec(cli.stdout());
      assert.ok(added !== null, cli.stdout());
      const ids = added.slice(1).map(BigInt);
      const remaining = await remainingIds();
      assert.deepEqual(
        ids.filter((id) => remaining.has(id)),
        [],
        `the demo's tasks ${ids.join(", ")} are deleted`,
      );
    } finally {
      cli.kill();
    }
  });

  test("demo --server: Ctrl-C during an add of its three tasks names that add as maybe applied", {
    timeout: 30_000,
  }, async () => {
    const before = await remainingIds();
    // The second add reaches the server, which commits it only once the CLI has cancelled the call: the task is
    // there, and the CLI never learnt its id.
    const store = s.server.store;
    const addTask = store.addTask;
    const secondStarted = defer();
    const secondAdded = defer<bigint>();
    store.addTask = async (signal, userId, description, due) => {
      if (description !== "call the printer") return addTask.call(store, signal, userId, description, due);
      secondStarted.resolve();
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      secondAdded.resolve(await addTask.call(store, new AbortController().signal, userId, description, due));
      throw signal.reason;
    };
    const cli = spawnDemo();
    try {
      await beforeExit(cli, secondStarted.promise, "its second add reached the server");
      cli.child.kill("SIGINT");
      assert.equal(await cli.exited, 130, cli.stderr());
      assert.equal(
        cli.stderr(),
        'todo demo: the add of "call the printer" got no answer and may have added that task' +
          " (cancelkit todo list shows it)\ncancelled\n",
      );
      const second = await secondAdded.promise;
      // The first task ("write the chapter") is deleted; only the task of the unanswered add is left.
      const added = await idsSince(before);
      assert.deepEqual(added, [second]);
      await deleteTasks([second]);
    } finally {
      cli.kill();
      store.addTask = addTask;
    }
  });

  test("demo --server: a second Ctrl-C during the quiet filler delete ends it at once; it names what is left, exit 130", {
    timeout: 60_000,
  }, async () => {
    // It used to get Node's default SIGINT: the process was killed at once and said nothing of the 3,000 tasks.
    const before = await remainingIds();
    const store = s.server.store;
    const deleteTask = store.deleteTask;
    let examples: Set<bigint> | undefined;
    const fillerDeleteStarted = defer();
    store.deleteTask = async (signal, userId, id) => {
      if (examples === undefined || examples.has(id)) return deleteTask.call(store, signal, userId, id);
      // A filler's delete hangs until its call ends: there is always a delete in flight to wait for.
      fillerDeleteStarted.resolve();
      await untilCallEnds(signal);
    };
    const cli = spawnDemo();
    try {
      const added = /added tasks (\d+), (\d+) \(due in [\d.]+ s\) and (\d+)/.exec(
        await cli.printed(/added tasks \d+, \d+ \(due in [\d.]+ s\) and \d+/),
      );
      examples = new Set(added?.slice(1).map(BigInt));
      await beforeExit(cli, fillerDeleteStarted.promise, "its filler deletes");
      // The first Ctrl-C stops the deletes and starts their 2 s wait for the answers in flight.
      await secondCtrlCEndsIt(cli);
      const said = new RegExp(
        "^todo demo: (\\d+) of its tasks are still there \\(\\1 filler tasks\\); delete them with:\n" +
          `  cancelkit todo delete --server ${s.address} ([\\d $()seq]+)\n` +
          "todo demo: the delete of task\\(s\\) ([\\d, ]+) got no answer and may have been applied" +
          " \\(cancelkit todo list shows whether they are still there\\)\ncancelled\n$",
      ).exec(cli.stderr());
      assert.ok(said !== null, cli.stderr());
      const named = shellIds(said[2] ?? "");
      const maybe = (said[3] ?? "").split(", ").map(BigInt);
      assert.equal(named.length, Number(said[1]));
      const left = await idsSince(before);
      assert.equal(left.length, 3000, "no filler delete was applied");
      assert.deepEqual(sortedIds([...named, ...maybe]), sortedIds(left), "the tasks named are those left");
      assert.ok(maybe.length >= 1 && maybe.length <= 16, `one delete in flight per stream: ${maybe}`);
    } finally {
      cli.kill();
      store.deleteTask = deleteTask;
      await deleteTasks(await idsSince(before));
    }
  });

  test("demo --server: a second Ctrl-C during the filler adds deletes nothing more; it names what is left, exit 130", {
    timeout: 60_000,
  }, async () => {
    // The adds were aborted at once, but the cleanup listened for a Ctrl-C of its own: it went on deleting, for
    // up to 5 s (then 2 s for the answers in flight).
    const before = await remainingIds();
    const store = s.server.store;
    const { addTask, deleteTask } = store;
    const addHangs = defer();
    store.addTask = async (signal, userId, description, due) => {
      const n = /^filler task (\d+)$/.exec(description)?.[1];
      if (n === undefined || Number(n) <= 100) return addTask.call(store, signal, userId, description, due);
      // Past the 100th filler, an add hangs until its call ends (and adds nothing): the adds stay in flight.
      addHangs.resolve();
      return untilCallEnds(signal);
    };
    let deletes = 0;
    store.deleteTask = async (signal) => {
      deletes++;
      return untilCallEnds(signal);
    };
    const cli = spawnDemo();
    try {
      await beforeExit(cli, addHangs.promise, "its filler adds hang");
      // The first Ctrl-C starts no further add and waits up to 2 s for the adds in flight.
      await secondCtrlCEndsIt(cli);
      assert.equal(deletes, 0, "the cleanup deletes nothing after a second Ctrl-C");
      const said = new RegExp(
        "^todo demo: (\\d+) of its tasks are still there \\(the book's task\\(s\\) [\\d, ]+; (\\d+) filler tasks\\);" +
          ` delete them with:\n  cancelkit todo delete --server ${s.address} ([\\d $()seq]+)\n` +
          "todo demo: (\\d+) filler add\\(s\\) got no answer and may have added a task described " +
          '"filler task N" \\(cancelkit todo list shows them\\)\ncancelled\n$',
      ).exec(cli.stderr());
      assert.ok(said !== null, cli.stderr());
      const named = shellIds(said[3] ?? "");
      assert.equal(named.length, Number(said[1]));
      assert.ok(Number(said[2]) <= 100, `only the first 100 filler adds are answered: ${said[2]}`);
      const unanswered = Number(said[4]);
      assert.ok(unanswered >= 1 && unanswered <= 64, `at most 64 adds in flight: ${unanswered}`);
      assert.deepEqual(sortedIds(named), sortedIds(await idsSince(before)), "the tasks named are those left");
    } finally {
      cli.kill();
      store.addTask = addTask;
      store.deleteTask = deleteTask;
      await deleteTasks(await idsSince(before));
    }
  });

  test("demo --server: a second Ctrl-C during the delete of its three tasks deletes nothing more; it names what is left", {
    timeout: 60_000,
  }, async () => {
    // deleteIds aborted its call at once, but the cleanup listened for a Ctrl-C of its own: it went on deleting,
    // for up to 5 s (then 2 s for the answers in flight).
    const before = await remainingIds();
    const store = s.server.store;
    const deleteTask = store.deleteTask;
    let examples: bigint[] | undefined;
    const secondStarted = defer();
    let otherDeletes = 0;
    store.deleteTask = async (signal, userId, id) => {
      if (examples === undefined || id === examples[0]) return deleteTask.call(store, signal, userId, id);
      if (id === examples[1]) secondStarted.resolve();
      else otherDeletes++;
      // The second task's delete, and any other, hangs until its call ends (and deletes nothing).
      return untilCallEnds(signal);
    };
    const cli = spawnDemo();
    try {
      const added = /added tasks (\d+), (\d+) \(due in [\d.]+ s\) and (\d+)/.exec(
        await cli.printed(/added tasks \d+, \d+ \(due in [\d.]+ s\) and \d+/),
      );
      examples = added?.slice(1).map(BigInt);
      const [first, second, third] = examples ?? [];
      await beforeExit(cli, secondStarted.promise, `the delete of task ${second}`);
      // The first Ctrl-C sends no further delete and waits up to 2 s for the answer in flight.
      await secondCtrlCEndsIt(cli);
      assert.equal(otherDeletes, 0, "the cleanup deletes nothing after a second Ctrl-C");
      assert.match(cli.stdout(), new RegExp(`\ndeleted task ${first}\n$`));
      const said = new RegExp(
        `^task ${second}: its delete was in flight and got no answer \\(a second Ctrl-C\\); it may have been applied\n` +
          `todo demo: (\\d+) of its tasks are still there \\(the book's task\\(s\\) ${third}; 3000 filler tasks\\);` +
          ` delete them with:\n  cancelkit todo delete --server ${s.address} ([\\d $()seq]+)\n` +
          `todo demo: the delete of task\\(s\\) ${second} got no answer and may have been applied` +
          " \\(cancelkit todo list shows whether they are still there\\)\ncancelled\n$",
      ).exec(cli.stderr());
      assert.ok(said !== null, cli.stderr());
      const named = shellIds(said[2] ?? "");
      assert.equal(named.length, Number(said[1]));
      assert.deepEqual(
        sortedIds([...named, second ?? 0n]),
        sortedIds(await idsSince(before)),
        "the tasks named are those left",
      );
    } finally {
      cli.kill();
      store.deleteTask = deleteTask;
      await deleteTasks(await idsSince(before));
    }
  });

  test("demo --server failing: a first Ctrl-C stops its cleanup the graceful way, a second aborts it", {
    timeout: 60_000,
  }, async () => {
    // The cleanup after an error used to watch only for a second Ctrl-C: the first was not acted on, and the
    // cleanup went on deleting.
    const store = s.server.store;
    const { addTask, deleteTask } = store;
    // The first filler's add fails: the demo ends with that error and cleans up the tasks it added.
    store.addTask = async (signal, userId, description, due) => {
      if (description === "filler task 1") throw new ConnectError("the disk is full", Code.ResourceExhausted);
      return addTask.call(store, signal, userId, description, due);
    };
    const failed = "resource exhausted: the disk is full\n";
    const stillThere = new RegExp(
      "^todo demo: (\\d+) of its tasks are still there \\(.*\\); delete them with:\n" +
        `  cancelkit todo delete --server ${s.address} ([\\d $()seq]+)\n`,
    );
    try {
      for (const secondCtrlC of [false, true]) {
        const before = await remainingIds();
        const cleanupStarted = defer();
        const gate = defer();
        let applied = 0;
        store.deleteTask = async (signal, userId, id) => {
          cleanupStarted.resolve();
          if (secondCtrlC) {
            // Hangs until its call ends: only a second Ctrl-C ends the cleanup before its 2 s wait is over.
            await untilCallEnds(signal);
          }
          await gate.promise;
          await deleteTask.call(store, new AbortController().signal, userId, id);
          applied++;
        };
        const cli = spawnDemo();
        try {
          await beforeExit(cli, cleanupStarted.promise, "its cleanup");
          cli.child.kill("SIGINT");
          const firstAt = performance.now();
          await new Promise((resolve) => setTimeout(resolve, 500));
          // Graceful: the deletes in flight are answered now, and no further delete is sent.
          if (!secondCtrlC) gate.resolve();
          else cli.child.kill("SIGINT");
          const code = await cli.exited;
          const waited = performance.now() - firstAt;
          assert.equal(code, EXIT.resourceExhausted, cli.stderr());
          assert.ok(waited < 1500, `exited ${waited.toFixed(0)} ms after the first Ctrl-C`);
          const said = stillThere.exec(cli.stderr());
          assert.ok(said !== null, `second Ctrl-C ${secondCtrlC}: ${cli.stderr()}`);
          const named = shellIds(said[2] ?? "");
          assert.equal(named.length, Number(said[1]));
          const left = await idsSince(before);
          if (!secondCtrlC) {
            assert.ok(applied >= 1 && applied <= 16, `one delete per stream, then none: ${applied}`);
            assert.deepEqual(sortedIds(named), sortedIds(left), "the tasks named are those left");
            assert.equal(cli.stderr(), `${said[0]}${failed}`, "every delete in flight was answered");
          } else {
            assert.equal(applied, 0);
            const maybe =
              /^todo demo: the delete of task\(s\) ([\d, ]+) got no answer and may have been applied/m.exec(
                cli.stderr(),
              );
            assert.ok(maybe !== null, cli.stderr());
            const unanswered = (maybe[1] ?? "").split(", ").map(BigInt);
            assert.deepEqual(sortedIds([...named, ...unanswered]), sortedIds(left));
            assert.ok(cli.stderr().endsWith(failed), cli.stderr());
          }
        } finally {
          cli.kill();
          gate.resolve();
          store.deleteTask = deleteTask;
          await deleteTasks(await idsSince(before));
        }
      }
    } finally {
      store.addTask = addTask;
      store.deleteTask = deleteTask;
    }
  });

  test("Ctrl-C cancels whatever runs: prints 'cancelled', exits 130", { timeout: 30_000 }, async () => {
    const cli = spawnCli(["todo", "demo", "--server", s.address, "--data-dir", s.dataDir]);
    try {
      await cli.printed(/--- waiting/);
      cli.child.kill("SIGINT");
      assert.equal(await cli.exited, 130);
      assert.equal(cli.stderr().trim(), "cancelled");
      assert.doesNotMatch(cli.stdout(), /--- delete/);
    } finally {
      cli.kill();
    }
  });
});

describe("cancelkit into a pipe read slowly", () => {
  test("todo list: while nothing reads the pipe, the CLI stops reading the stream, and so the server", async (t) => {
    // The CLI read on regardless, holding the listing in memory: the server read every page at once, not "only as
    // fast as the client reads", and ended the call before the pipe's reader had read anything.
    const s = await startTestServer();
    t.after(() => s.close());
    const dueDate = parseDue("1d", "--due");
    const signal = new AbortController().signal;
    const count = 2000; // lines of ~1 KB: 2 MB, far more than the pipe, the CLI's buffers and HTTP/2's windows hold
    for (let i = 0; i < count; i++)
      await s.server.store.addTask(signal, 1n, `${i} ${"x".repeat(990)}`, dueDate);
    // `cancelkit todo list | READER` as a shell runs it (a pipe, not the socket pair of spawn's stdio), READER
    // reading nothing until the file GATE exists.
    const dir = await mkdtemp(join(tmpdir(), "cancelkit-pipe-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const gate = join(dir, "gate");
    const script = `set -o pipefail; "$@" | { while [ ! -e '${gate}' ]; do sleep 0.05; done; exec cat; }`;
    const args = [process.execPath, CLI, "todo", "list", "--server", s.address, "--token", s.localToken];
    const shell = spawn("bash", ["-c", script, "bash", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // a group of its own: the CLI and the reader are ended with the shell
    });
    t.after(() => {
      if (shell.exitCode === null && shell.signalCode === null)
        process.kill(-(shell.pid as number), "SIGKILL");
    });
    let stdout = "";
    shell.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    const exited = once(shell, "exit");
    const ended = s.callLog("todo.v2.TodoService/ListTasks");
    const first = await Promise.race([ended, exited, delay(AbortSignal.timeout(10_000), 1500)]);
    assert.equal(first, undefined, "neither the call nor the CLI ended while nothing read the pipe");
    await writeFile(gate, "");
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
    assert.equal(stdout.split("\n").filter((l) => l.startsWith("#")).length, count);
    const line = await ended;
    assert.deepEqual([line.outcome, line.messages], ["ok", count]);
  });

  test("todo delete: every line reaches the reader, though the call ended long before it read", {
    timeout: 60_000,
  }, async (t) => {
    // The CLI exited 20 ms after the command ended, dropping what still waited for the pipe: `todo list | (sleep 3;
    // wc -l)` counted 1,061 of 20,014 tasks, exit 0.
    const s = await startTestServer();
    t.after(() => s.close());
    const dueDate = parseDue("1d", "--due");
    const signal = new AbortController().signal;
    const ids: bigint[] = [];
    // "deleted task N" 5,000 times: more than a pipe holds (64 KiB).
    for (let i = 0; i < 5000; i++) ids.push(await s.server.store.addTask(signal, 1n, `task ${i}`, dueDate));
    const args = ["todo", "delete", ...ids.map(String), "--server", s.address, "--token", s.localToken];
    const cli = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    t.after(() => cli.kill("SIGKILL"));
    const exited = once(cli, "exit");
    // Nothing is read from the pipe until the server has ended the call and the CLI has had time to exit.
    const line = await s.callLog("todo.v2.TodoService/DeleteTasks");
    assert.equal(line.outcome, "ok");
    await Promise.race([exited, delay(AbortSignal.timeout(10_000), 1000)]);
    let stdout = "";
    cli.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
    assert.equal(stdout, ids.map((id) => `deleted task ${id}\n`).join(""));
  });
});

test("users add before the server's first start: stderr says the database is new, and the server still writes local's token file", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-users-first-"));
  try {
    const alice = await run(["users", "add", "alice", "--data-dir", dataDir]);
    assert.equal(alice.code, 0, alice.stderr);
    assert.match(alice.stderr, /^no database was at .+cancelkit\.db: created a new one\n/);
    const bob = await run(["users", "add", "bob", "--data-dir", dataDir]);
    assert.doesNotMatch(bob.stderr, /no database/, "only a new database is announced");

    // Until 2026-12-03 the server wrote no token file here (it saw users already), and the CLI had none to use.
    const server = await startTestServer({ dataDir });
    try {
      assert.ok(server.log.entries.some((e) => e.event === "local-user-created"));
      const todo = (...args: string[]) =>
        run(["todo", ...args, "--server", server.address, "--data-dir", dataDir]);
      const added = await todo("add", "local's task", "--due", "1h");
      assert.equal(added.code, 0, added.stderr);
      const listed = await todo("list", "--json");
      assert.equal(JSON.parse(listed.stdout.trim()).description, "local's task");
      const asAlice = await run(["todo", "list", "--server", server.address], {
        CANCELKIT_TOKEN: alice.stdout.trim(),
      });
      assert.equal(asAlice.code, 0, asAlice.stderr);
      assert.doesNotMatch(asAlice.stdout, /local's task/, "the token file is local's, not alice's");
    } finally {
      await server.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
