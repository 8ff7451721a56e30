/** The server's log goes to stderr; a reader of that pipe that goes away must not take the server with it. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { HashFinder } from "../../src/gen/hash_name/hash_name_pb.ts";
import { spawnCli } from "../helpers/spawn.ts";

test("the log's reader closes its end: the server goes on serving, and still drains on SIGTERM", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-log-pipe-"));
  const server = spawnCli(["serve", "--port", "0", "--workers", "1", "--data-dir", dataDir]);
  t.after(async () => {
    server.kill();
    await server.exited;
    await rm(dataDir, { recursive: true, force: true });
  });
  const line = await server.printed(/\{[^\n]*"event":"listening"[^\n]*\}/);
  const { port } = JSON.parse(line) as { port: number };
  server.child.stderr?.destroy(); // the reader is gone: the server's next log line meets EPIPE
  const client = createClient(HashFinder, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  // Each call writes a log line; the first one would have ended the process.
  for (let i = 0; i < 3; i++) {
    assert.equal((await client.find({ desiredName: "aa" })).secret, "ZA==");
  }
  assert.equal(server.child.exitCode, null, "the server still runs");
  server.child.kill("SIGTERM");
  assert.equal(await server.exited, 0);
});
