/**
 * The installed command started by a system Node older than 24 (`npx cancelkit find …` on Debian's Node 20): it
 * runs the client command in a child on the pinned Node, and a signal must still cancel the call cleanly, whether
 * it reaches the wrapper alone, the whole process group, or the wrapper is killed outright. Skipped, saying so,
 * where no older Node is installed: then the command runs in one process and these cases do not arise.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { BIN, type Spawned, spawnScript } from "../helpers/spawn.ts";
import { waitUntil } from "../helpers/wait.ts";

/** '~' is no base64 character: this name never matches, so the search runs until stopped. */
const NEVER = "~~~~";

/** A Node older than 24 on this machine (on PATH, outside this project, or in /usr/bin), if any. */
function olderNode(): string | undefined {
  const candidates = [
    ...(process.env.PATH ?? "")
      .split(delimiter)
      .filter((dir) => dir !== "" && !dir.includes("node_modules"))
      .map((dir) => join(dir, "node")),
    "/usr/bin/node",
    "/usr/local/bin/node",
  ];
  for (const candidate of new Set(candidates)) {
    if (!existsSync(candidate)) continue;
    try {
      const version = execFileSync(candidate, ["-p", "process.versions.node"], { encoding: "utf8" });
      if (Number(version.split(".")[0]) < 24) return candidate;
    } catch {
      // Not a Node that runs here.
    }
  }
  return undefined;
}

const node = olderNode();
const skip = node === undefined ? "no Node older than 24 here: the command runs in one process" : false;

describe("cancelkit find through the wrapper on an older Node", { skip }, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ maximumHashes: 0 });
  });
  after(() => s.close());

  /** The wrapper in a process group of its own, searching forever once the search runs. */
  async function searching(): Promise<Spawned> {
    const cli = spawnScript(BIN, ["find", NEVER, "--server", s.address], {}, { node, detached: true });
    await waitUntil("the search is running", () => s.server.pool.stats().busyWorkers > 0, 20_000);
    return cli;
  }

  /** The call ended as a client's cancel, and the pool stopped. */
  async function cancelledByClient(): Promise<void> {
    const line = await s.nextCallLog("hash_name.HashFinder/Find");
    assert.equal(line.outcome, "CANCELLED");
    assert.equal(line.cause, "client-cancelled");
    await s.server.pool.whenIdle();
  }

  /** Signals a running search by `send`, and checks a clean cancel: 'cancelled', `exit`, the server told. */
  async function cancelsCleanly(send: (wrapper: ChildProcess) => void, exit: number): Promise<void> {
    const cli = await searching();
    try {
      const logged = cancelledByClient();
      send(cli.child);
      assert.equal(await cli.exited, exit, cli.stderr());
      assert.equal(cli.stderr().trim(), "cancelled");
      await logged;
    } finally {
      cli.kill();
    }
  }

  // Ignored until now: the wrapper waited for the terminal's group signal that a supervisor does not send.
  for (const [signal, exit] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    test(`${signal} to the wrapper alone cancels the call: 'cancelled', exit ${exit}`, () =>
      cancelsCleanly((wrapper) => wrapper.kill(signal), exit));
  }

  test("SIGINT to the whole group (Ctrl-C) is one cancel, not a second Ctrl-C that skips the cleanup", () =>
    cancelsCleanly((wrapper) => process.kill(-(wrapper.pid ?? 0), "SIGINT"), 130));

  test("SIGKILL of the wrapper: its child cancels the call instead of searching on as an orphan", async (t) => {
    const cli = await searching();
    t.after(() => cli.kill());
    const logged = cancelledByClient();
    cli.child.kill("SIGKILL");
    await logged;
  });

  test("SIGTERM while the child is still starting: exit 143, not 1 ('serve could not start')", async (t) => {
    const cli = spawnScript(BIN, ["find", NEVER, "--server", s.address], {}, { node, detached: true });
    t.after(() => cli.kill());
    await new Promise((resolve) => setTimeout(resolve, 150));
    cli.child.kill("SIGTERM");
    assert.equal(await cli.exited, 143, cli.stderr());
    await s.server.pool.whenIdle();
  });
});
