/** Shutdown: running calls get the grace period, then UNAVAILABLE; the process exits 0 on SIGTERM. */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as connectHttp2, constants } from "node:http2";
import { connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { HashFinder, HashNameRequestSchema } from "../../src/gen/hash_name/hash_name_pb.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import { errorOf } from "../helpers/call-error.ts";
import { rawGrpcCall } from "../helpers/raw-grpc.ts";
import { connectDroppable } from "../helpers/raw-h2.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { spawnCli } from "../helpers/spawn.ts";
import { waitUntil } from "../helpers/wait.ts";

const NEVER = "\u0000\u0000\u0000\u0000";

/** The local user's task descriptions, read back from the stopped server's database. */
async function storedDescriptions(t: TestContext, s: TestServer): Promise<string[]> {
  const store = await openSqliteStore(s.dataDir);
  t.after(() => store.close());
  const signal = new AbortController().signal;
  const user = await store.userForToken(signal, s.localToken);
  assert.ok(user !== undefined);
  const descriptions: string[] = [];
  for await (const task of store.listTasks(signal, user)) descriptions.push(task.description);
  return descriptions;
}

describe("shutdown", () => {
  test("a call still running after the grace period ends with UNAVAILABLE 'server shutting down'", async (t) => {
    const s = await startTestServer({ maximumHashes: 0 });
    t.after(() => s.close()); // also when an assertion fails first
    const call = s.hashFinder().find({ desiredName: NEVER });
    await waitUntil("the search is running", () => s.server.pool.stats().busyWorkers > 0);
    const outcome = call.then(
      () => assert.fail("the call should not succeed"),
      (e: unknown) => ConnectError.from(e),
    );
    await s.server.shutdown(100);
    const error = await outcome;
    assert.equal(error.code, Code.Unavailable);
    assert.match(error.rawMessage, /server shutting down/);
    const line = await s.callLog("hash_name.HashFinder/Find", "UNAVAILABLE");
    assert.equal(line.cause, "shutdown");
    assert.equal(s.server.pool.stats().busyWorkers, 0);
  });

  test("a stream whose client stopped reading, still open when the connections are closed: reset with CANCEL, and its line says CANCELLED (cause shutdown), not UNKNOWN", async (t) => {
    const s = await startTestServer();
    t.after(() => s.close()); // also when an assertion fails first
    const never = new AbortController().signal;
    const user = await s.server.store.userForToken(never, s.localToken);
    assert.ok(user !== undefined);
    // About 2 MB of responses: far more than the client's window and the server's buffers hold.
    const due = { seconds: 4_102_444_800n, nanos: 0 };
    await Promise.all(
      Array.from({ length: 2000 }, (_, i) =>
        s.server.store.addTask(never, user, `${i} ${"x".repeat(1000)}`, due),
      ),
    );
    const connection = connectDroppable(s.address);
    t.after(() => connection.session.destroy());
    const call = rawGrpcCall(connection.session, "/todo.v2.TodoService/ListTasks", {
      authorization: `Bearer ${s.localToken}`,
    });
    call.send(new Uint8Array(0));
    call.stream.end();
    // The client reads nothing: once its window is full, the server's response write waits for flow control
    // (the handler waits at its yield), so the shutdown's UNAVAILABLE cannot reach it, and the end of shutdown
    // destroys the connection under that write (write ECANCELED).
    call.stream.pause();
    await waitUntil("the client's window is full", () => call.stream.state.localWindowSize === 0);
    await s.server.shutdown(0);
    const line = await s.callLog("todo.v2.TodoService/ListTasks");
    assert.deepEqual([line.outcome, line.cause], ["CANCELLED", "shutdown"], JSON.stringify(line));
    call.stream.resume();
    assert.equal(call.stream.rstCode, constants.NGHTTP2_CANCEL, "the client's stream ended with CANCEL");
  });

  test("a call that finishes within the grace period completes normally", async (t) => {
    const s = await startTestServer({ maximumHashes: 0 });
    t.after(() => s.close()); // also when an assertion fails first
    const stream = s
      .hashFinder()
      .findRange({ desiredName: "doctor", idealHammingDistance: 1, interestingHammingDistance: 3 })
      [Symbol.asyncIterator]();
    assert.equal((await stream.next()).done, false);
    const stopping = s.server.shutdown(10_000);
    let count = 1;
    while (!(await stream.next()).done) count++;
    assert.equal(count, 663);
    await stopping;
  });

  test("shutdown sends GOAWAY to open HTTP/2 connections and accepts no new ones", async (t) => {
    const s = await startTestServer({ maximumHashes: 0 });
    t.after(() => s.close());
    const session = connectHttp2(`http://${s.address}`);
    t.after(() => session.destroy());
    session.on("error", () => {});
    await once(session, "connect");
    const goaway = once(session, "goaway");
    // A call that outlasts the grace keeps the server draining while we look.
    let callEnded = false;
    const running = errorOf(s.hashFinder().find({ desiredName: NEVER })).finally(() => {
      callEnded = true;
    });
    await waitUntil("the search is running", () => s.server.pool.stats().busyWorkers > 0);
    const stopping = s.server.shutdown(1_000);
    await goaway;
    // When the drain starts, not when the grace is over (connections are destroyed then, GOAWAY or not).
    assert.equal(callEnded, false, "GOAWAY came only after the running call had been ended");
    const [host, port] = s.address.split(":") as [string, string];
    const refused = await new Promise<string>((resolve) => {
      const socket = connectTcp(Number(port), host, () => {
        socket.destroy();
        resolve("connected");
      });
      socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
    });
    assert.equal(refused, "ECONNREFUSED");
    assert.equal((await running).code, Code.Unavailable);
    await stopping;
  });

  test("a connection that says HTTP/2 only after shutdown began gets GOAWAY too, and its call is refused", async (t) => {
    const s = await startTestServer();
    t.after(() => s.close());
    const [host, port] = s.address.split(":") as [string, string];
    // Connected, but no byte sent yet: the server is still waiting to tell its protocol when shutdown starts.
    const socket = connectTcp(Number(port), host);
    socket.on("error", () => {});
    t.after(() => socket.destroy());
    await once(socket, "connect");
    await delay(50); // for the server's side to accept it (same process, same event loop)
    const stopping = s.server.shutdown(5_000);
    const session = connectHttp2(`http://${s.address}`, { createConnection: () => socket });
    session.on("error", () => {});
    t.after(() => session.destroy());
    const goaway = once(session, "goaway");
    // Sent right behind the connection preface, before the client can have heard anything.
    const call = rawGrpcCall(session, "/hash_name.HashFinder/Find");
    call.send(toBinary(HashNameRequestSchema, create(HashNameRequestSchema, { desiredName: "a" })));
    call.stream.end();
    const [code, lastStreamId] = (await goaway) as [number, number];
    assert.deepEqual([code, lastStreamId], [0, 0], "NO_ERROR, and no stream of this connection was taken");
    const result = await call.result;
    assert.equal(result.status, undefined, "the call was not served");
    // REFUSED_STREAM: gRPC clients retry such a call on another connection, knowing it never ran.
    assert.equal(call.stream.rstCode, constants.NGHTTP2_REFUSED_STREAM);
    assert.equal(s.log.entries.filter((e) => e.method === "hash_name.HashFinder/Find").length, 0);
    const started = performance.now();
    await stopping;
    // Without the GOAWAY the session stayed open until the unwind's 1 s was up, then was destroyed.
    assert.ok(performance.now() - started < 900, "the drained connection closed on its own");
  });

  // The store closes last: a call that finishes within the grace still reads and writes, and its write is durable.
  test("a client stream that half-closes during the grace period is applied", async (t) => {
    const s = await startTestServer();
    t.after(() => s.close());
    const todo = s.todo();
    const { id } = await todo.addTask({ description: "old", dueDate: { seconds: 4_102_444_800n, nanos: 0 } });
    const halfClose = Promise.withResolvers<void>();
    async function* requests() {
      yield { id, description: "new" };
      await halfClose.promise;
    }
    const update = todo.updateTasks(requests());
    await waitUntil("the update stream is open", () => s.server.calls.active > 0);
    const stopping = s.server.shutdown(10_000);
    halfClose.resolve();
    await update;
    await stopping;
    assert.deepEqual(await storedDescriptions(t, s), ["new"]);
  });

  test("a client stream still open at shutdown ends with UNAVAILABLE and applies nothing", async (t) => {
    const s = await startTestServer();
    t.after(() => s.close());
    const todo = s.todo();
    const { id } = await todo.addTask({
      description: "kept",
      dueDate: { seconds: 4_102_444_800n, nanos: 0 },
    });
    const never = Promise.withResolvers<void>();
    async function* requests() {
      yield { id, description: "changed" };
      await never.promise; // the client never half-closes
    }
    const update = errorOf(todo.updateTasks(requests()));
    await waitUntil("the update stream is open", () => s.server.calls.active > 0);
    await s.server.shutdown(100);
    never.resolve();
    assert.equal((await update).code, Code.Unavailable);
    const line = await s.callLog("todo.v2.TodoService/UpdateTasks");
    assert.deepEqual([line.outcome, line.cause], ["UNAVAILABLE", "shutdown"]);
    assert.deepEqual(await storedDescriptions(t, s), ["kept"]);
  });

  test("SIGTERM: the process drains, ends what is left with UNAVAILABLE, and exits 0", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-serve-"));
    const server = spawnCli([
      "serve",
      "--port",
      "0",
      "--grace",
      "200ms",
      "--maximum-hashes",
      "0",
      "--stop-wait-ms",
      "0.5",
      "--data-dir",
      dataDir,
    ]);
    try {
      const listening = await server.printed(
        /"event":"listening".*"port":\d+.*"workerPauses":"[a-z-]+","stopWaitMs":[\d.]+,"movesLateWorkers":[a-z]+/,
      );
      const port = Number(/"port":(\d+)/.exec(listening)?.[1]);
      // The operator can tell how the workers give their cores away: by yielding (Linux), else by sleeping.
      const pausing =
        process.platform === "linux" ? /"workerPauses":"yield"/ : /"workerPauses":"unconditionally"/;
      assert.match(listening, pausing);
      assert.match(listening, /"stopWaitMs":0\.5,/);
      // And whether a cancel's wait can move late workers (thread CPU affinity, Linux).
      assert.match(listening, new RegExp(`"movesLateWorkers":${process.platform === "linux"}$`));
      const client = createClient(HashFinder, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
      const stream = client
        .findRange({ desiredName: NEVER, interestingHammingDistance: 4 })
        [Symbol.asyncIterator]();
      await stream.next(); // the search is certainly running now
      server.child.kill("SIGTERM");
      const error = await (async () => {
        try {
          while (!(await stream.next()).done) {}
        } catch (e) {
          return ConnectError.from(e);
        }
        return undefined;
      })();
      assert.equal(error?.code, Code.Unavailable);
      assert.equal(await server.exited, 0);
      assert.match(server.stderr(), /"phase":"done"/);
    } finally {
      server.kill();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test("serve --help prints every option with its default", async () => {
    const help = spawnCli(["serve", "--help"]);
    assert.equal(await help.exited, 0);
    for (const flag of [
      "--port",
      "--host",
      "--workers",
      "--maximum-hashes",
      "--max-queued",
      "--max-per-client",
      "--grace",
    ]) {
      assert.match(help.stdout(), new RegExp(`${flag} .*default`));
    }
    assert.match(help.stdout(), /default 50051/);
    assert.match(help.stdout(), /default 1000000/);
  });
});
