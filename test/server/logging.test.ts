/**
 * How the call log tells a deadline from a cancel when both come from the client as a RST_STREAM or a dropped
 * connection: near the deadline, what the client did (and when) decides, not how close the deadline was; and
 * that an unexpected error is logged as the INTERNAL the client gets, with its detail.
 */
import assert from "node:assert/strict";
import { constants } from "node:http2";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { HashNameRequestSchema } from "../../src/gen/hash_name/hash_name_pb.ts";
import { MemoryTaskStore } from "../../src/store/memory.ts";
import { errorOf } from "../helpers/call-error.ts";
import { rawGrpcCall } from "../helpers/raw-grpc.ts";
import { connectDroppable } from "../helpers/raw-h2.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitUntil } from "../helpers/wait.ts";

/** A name that never occurs in a base64 hash: the search runs until stopped. */
const NEVER = toBinary(
  HashNameRequestSchema,
  create(HashNameRequestSchema, { desiredName: "\u0000\u0000\u0000\u0000" }),
);

describe("call log: cancel or deadline", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ maximumHashes: 0 });
  });
  after(() => s.close());

  /** Starts a never-ending Find with `grpc-timeout` on its own connection; `sentAt` is when the call went out. */
  function startFind(grpcTimeout: string) {
    const connection = connectDroppable(s.address);
    const call = rawGrpcCall(connection.session, "/hash_name.HashFinder/Find", {
      "grpc-timeout": grpcTimeout,
    });
    call.send(NEVER);
    call.stream.end();
    const sentAt = performance.now();
    return { connection, call, sentAt };
  }

  /** The call's log line; `peer` is read before the test drops any connection (a closed socket has none). */
  const lineOf = (peer: string) => s.log.waitFor((e) => e.event === "call" && e.peer === peer, 20_000);

  /**
   * The point of these tests is the moment of the client's action relative to its deadline, so they wait for
   * that moment; the margins (100 ms and more either side) are far above scheduling noise.
   */
  const until = (sentAt: number, ms: number) =>
    new Promise((resolve) => setTimeout(resolve, Math.max(0, sentAt + ms - performance.now())));

  test("RST_STREAM CANCEL 200 ms before a 3 s deadline → CANCELLED client-cancelled; a drop → disconnected", async () => {
    const cancelled = startFind("3S");
    const dropped = startFind("3S");
    await waitUntil("both searches run", () => s.server.pool.stats().running === 2);
    const logged = [lineOf(cancelled.connection.peer), lineOf(dropped.connection.peer)];
    await until(cancelled.sentAt, 2800);
    cancelled.call.stream.close(constants.NGHTTP2_CANCEL); // the connection stays up
    dropped.connection.drop();
    const [cancelLine, dropLine] = await Promise.all(logged);
    assert.ok(cancelLine && dropLine);
    cancelled.connection.session.close();
    assert.deepEqual([cancelLine.outcome, cancelLine.cause], ["CANCELLED", "client-cancelled"]);
    assert.deepEqual([dropLine.outcome, dropLine.cause], ["CANCELLED", "disconnected"]);
    await s.server.pool.whenIdle();
  });

  test("RST_STREAM CANCEL just before the deadline (grpc-go and grpcio at theirs) → DEADLINE_EXCEEDED deadline", async () => {
    const call = startFind("300m");
    await waitUntil("the search runs", () => s.server.pool.stats().running === 1);
    const logged = lineOf(call.connection.peer);
    // A client's timer may fire a little before ours; 10 ms early here.
    await until(call.sentAt, 290);
    call.call.stream.close(constants.NGHTTP2_CANCEL);
    const line = await logged;
    call.connection.session.close();
    assert.deepEqual([line.outcome, line.cause], ["DEADLINE_EXCEEDED", "deadline"]);
    await s.server.pool.whenIdle();
  });
});

describe("call log: unexpected errors", () => {
  /** A store whose disk has failed: every AddTask throws what node:sqlite would, a plain Error. */
  class FailingStore extends MemoryTaskStore {
    override async addTask(): Promise<bigint> {
      throw new Error("SQLITE_IOERR: disk I/O error");
    }
  }

  test("a plain Error from the store: the client gets INTERNAL 'internal error'; the log says INTERNAL, at error level, with the detail", async (t) => {
    const s = await startTestServer({}, { store: new FailingStore() });
    t.after(() => s.close());
    const error = await errorOf(
      s.todo().addTask({ description: "x", dueDate: { seconds: 4_102_444_800n, nanos: 0 } }),
    );
    assert.deepEqual([error.code, error.rawMessage], [Code.Internal, "internal error"]);
    const line = await s.callLog("todo.v2.TodoService/AddTask");
    assert.deepEqual([line.level, line.outcome], ["error", "INTERNAL"]);
    assert.match(String(line.error), /SQLITE_IOERR: disk I\/O error/);
  });
});
