/**
 * The real server process: first start creates the local user and its token file (0600) with one log line; an
 * acknowledged AddTask survives `kill -9`; a restart keeps the user and the token and creates no other; a lost
 * token file is written again, with a new token for the same user.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TodoService } from "../../src/gen/todo/v2/todo_pb.ts";
import { readTokenFile, tokenPath } from "../../src/store/bootstrap.ts";
import { spawnCli } from "../helpers/spawn.ts";

async function startServe(dataDir: string) {
  const server = spawnCli(["serve", "--port", "0", "--data-dir", dataDir, "--workers", "1"]);
  const listening = await server.printed(/"event":"listening"[^\n]*"port":\d+/);
  const port = Number(/"port":(\d+)/.exec(listening)?.[1]);
  const client = (token: string) =>
    createClient(
      TodoService,
      createGrpcTransport({
        baseUrl: `http://127.0.0.1:${port}`,
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${token}`);
            return next(req);
          },
        ],
      }),
    );
  return { server, client };
}

/** The server's log lines (stderr) of one event. */
function logLines(server: { stderr(): string }, event: string): string[] {
  return server
    .stderr()
    .split("\n")
    .filter((line) => line.includes(`"event":"${event}"`));
}

test("first start writes the token (0600, one log line); an acknowledged add survives kill -9; a lost token file is written again", {
  timeout: 60_000,
}, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-durability-"));
  after(() => rm(dataDir, { recursive: true, force: true }));

  const first = await startServe(dataDir);
  try {
    const created = logLines(first.server, "local-user-created");
    assert.equal(created.length, 1, "one log line about the new user");
    assert.ok(created[0]?.includes(tokenPath(dataDir)), "the line names the token file");
    const token = await readTokenFile(tokenPath(dataDir));
    assert.ok(!created[0]?.includes(token), "the log never shows the token");
    assert.equal((await stat(tokenPath(dataDir))).mode & 0o777, 0o600);

    const due = { seconds: 4_102_444_800n, nanos: 987_654_321 };
    const { id } = await first.client(token).addTask({ description: "survives kill -9", dueDate: due });
    first.server.child.kill("SIGKILL"); // right after the acknowledgement: no shutdown, no checkpoint
    assert.equal(await first.server.exited, 137);

    const second = await startServe(dataDir);
    try {
      assert.ok(!second.server.stderr().includes("local-user-created"), "a restart creates no user");
      assert.equal(await readTokenFile(tokenPath(dataDir)), token, "the token file is unchanged");
      const listed = [];
      for await (const res of second.client(token).listTasks({})) listed.push(res.task);
      assert.deepEqual(
        listed.map((t) => [t?.id, t?.description, t?.dueDate?.seconds, t?.dueDate?.nanos]),
        [[id, "survives kill -9", due.seconds, due.nanos]],
      );
      second.server.child.kill("SIGTERM");
      assert.equal(await second.server.exited, 0, "graceful shutdown closes the store and exits 0");
    } finally {
      second.server.kill();
    }

    // The state a kill between creating "local" and writing its file leaves (the old rule then wrote no file
    // ever again, since a user existed): the next start issues local a new token and writes it.
    await rm(tokenPath(dataDir));
    const third = await startServe(dataDir);
    try {
      const issued = logLines(third.server, "local-token-issued");
      assert.equal(issued.length, 1, third.server.stderr());
      assert.match(issued[0] ?? "", /"why":"no token file"/);
      const newToken = await readTokenFile(tokenPath(dataDir));
      assert.notEqual(newToken, token);
      assert.ok(!issued[0]?.includes(newToken), "the log never shows the token");
      assert.equal((await stat(tokenPath(dataDir))).mode & 0o777, 0o600);
      for (const each of [newToken, token]) {
        const ids = [];
        for await (const res of third.client(each).listTasks({})) ids.push(res.task?.id);
        assert.deepEqual(ids, [id], "the same user 'local', by the new token and the old one");
      }
    } finally {
      third.server.kill();
    }
  } finally {
    first.server.kill();
  }
});
