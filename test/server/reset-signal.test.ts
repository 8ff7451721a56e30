/**
 * A client's RST_STREAM aborts the call's signal while Node handles the frame (the stream's "aborted" event), not
 * a turn later when Connect hears the request close: every cancel, and the search it stops, waited for that.
 */
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { connect, constants, type ServerHttp2Stream } from "node:http2";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { HashNameRequestSchema } from "../../src/gen/hash_name/hash_name_pb.ts";
import type { SearchPool } from "../../src/pool/pool.ts";
import { resetReason } from "../../src/server/reset-signal.ts";
import { rawGrpcCall } from "../helpers/raw-grpc.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitUntil } from "../helpers/wait.ts";

/** Connect's own mapping, the oracle; not exported by the package, so loaded from its file. */
const { connectErrorFromH2ResetCode } = (await import(
  new URL("../../node_modules/@connectrpc/connect-node/dist/esm/node-error.js", import.meta.url).href
)) as { connectErrorFromH2ResetCode: (rstCode: number) => ConnectError | undefined };

test("resetReason words every HTTP/2 reset code as Connect does (code and message), none for NO_ERROR", () => {
  // 0x0–0xd are RFC 9113's codes; 0xe and up are unknown ones a peer may still send.
  for (let rstCode = 0; rstCode <= 0x10; rstCode++) {
    const ours = resetReason(rstCode);
    const connects = connectErrorFromH2ResetCode(rstCode);
    assert.equal(ours?.code, connects?.code, `code for 0x${rstCode.toString(16)}`);
    assert.equal(ours?.rawMessage, connects?.rawMessage, `message for 0x${rstCode.toString(16)}`);
    if (ours !== undefined) assert.ok(ours instanceof ConnectError);
  }
  assert.equal(resetReason(constants.NGHTTP2_CANCEL)?.code, Code.Canceled);
});

test("a client's RST_STREAM CANCEL aborts the running search's signal before Node closes the stream", {
  timeout: 20_000,
}, async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  // The server's streams, as Node creates them: a listener added here runs before any of the server's own, and
  // so before Connect's, which aborted the call's signal from the stream's "close".
  const closed = new WeakSet<ServerHttp2Stream>();
  let latest: ServerHttp2Stream | undefined;
  const onStream = (message: unknown) => {
    const stream = (message as { stream: ServerHttp2Stream }).stream;
    latest = stream;
    stream.once("close", () => closed.add(stream));
  };
  subscribe("http2.server.stream.created", onStream);
  t.after(() => unsubscribe("http2.server.stream.created", onStream));

  const pool: SearchPool = s.server.pool;
  const seen: Array<{ streamClosed: boolean; reason: unknown }> = [];
  const search = pool.search.bind(pool);
  pool.search = (signal, request) => {
    const stream = latest;
    signal.addEventListener("abort", () =>
      seen.push({ streamClosed: stream === undefined || closed.has(stream), reason: signal.reason }),
    );
    return search(signal, request);
  };
  t.after(() => delete (pool as Partial<Pick<SearchPool, "search">>).search);

  const session = connect(`http://${s.address}`);
  session.on("error", () => {});
  t.after(() => session.destroy());
  // '~' is not a base64 character: the search runs until it is stopped.
  const call = rawGrpcCall(session, "/hash_name.HashFinder/Find");
  call.send(toBinary(HashNameRequestSchema, create(HashNameRequestSchema, { desiredName: "~~~~" })));
  call.stream.end();
  await waitUntil("the search runs", () => pool.stats().running === 1);
  call.stream.close(constants.NGHTTP2_CANCEL);
  await waitUntil("the search's signal aborts", () => seen.length === 1);

  const [{ streamClosed, reason } = { streamClosed: true, reason: undefined }] = seen;
  assert.equal(streamClosed, false, "the signal aborted only once Node had closed the stream");
  assert.ok(reason instanceof ConnectError, String(reason));
  assert.equal(reason.code, Code.Canceled);
  assert.equal(reason.rawMessage, "http/2 stream closed with error code CANCEL (0x8)");
  await waitUntil("the pool is idle", () => pool.stats().running === 0 && pool.executing() === 0);
  const line = await s.callLog("hash_name.HashFinder/Find");
  assert.deepEqual([line.outcome, line.cause], ["CANCELLED", "client-cancelled"], JSON.stringify(line));
});
