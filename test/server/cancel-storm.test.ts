/**
 * Cancelling is this server's daily bread: a client that cancels call after call on one connection keeps it.
 * Node's HTTP/2 server, by default, answers more than 1,000 RST_STREAMs arriving faster than 33 a second (its
 * guard against the "rapid reset" attack) with GOAWAY INTERNAL_ERROR, failing every call on the connection. And
 * one connection may not hold streams without limit.
 */
import assert from "node:assert/strict";
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { type TestContext, test } from "node:test";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.ts";
import { errorOf } from "../helpers/call-error.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitUntil } from "../helpers/wait.ts";

/** A server, and a raw HTTP/2 session to it; both closed after the test. */
async function serverAndSession(t: TestContext): Promise<{ s: TestServer; session: ClientHttp2Session }> {
  const s = await startTestServer();
  t.after(() => s.close());
  const session = connect(`http://${s.address}`);
  t.after(() => session.destroy());
  session.on("error", () => {});
  return { s, session };
}

test("2,000 calls cancelled back to back on one connection all end as cancelled", {
  timeout: 60_000,
}, async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  // One transport: connect-node keeps one HTTP/2 session for all its calls.
  const health = createClient(Health, s.grpc());
  const calls = 2_000;
  const codes = new Map<string, number>();
  for (let call = 0; call < calls; call++) {
    const controller = new AbortController();
    const ended = errorOf(
      (async () => {
        // The first status proves the server has the stream; then the client cancels it (RST_STREAM CANCEL).
        for await (const _ of health.watch({ service: "" }, { signal: controller.signal }))
          controller.abort();
      })(),
    );
    const error: ConnectError = await ended;
    const key = `${Code[error.code]}${error.code === Code.Canceled ? "" : `: ${error.rawMessage}`}`;
    codes.set(key, (codes.get(key) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(codes), { Canceled: calls });
  // connect-node would open a new connection after a GOAWAY, so the codes alone cannot show that the server kept
  // this one: every call's log line must name the same peer.
  const watchLines = () =>
    s.log.entries.filter((e) => e.event === "call" && e.method === "grpc.health.v1.Health/Watch");
  await waitUntil("every call is logged", () => watchLines().length >= calls);
  assert.deepEqual(new Set(watchLines().map((e) => e.peer)).size, 1, "one connection served every call");
});

test("a client that resets streams by the tens of thousands is still cut off", {
  timeout: 60_000,
}, async (t) => {
  const { session } = await serverAndSession(t);
  const goaway = new Promise<number>((resolve) => session.once("goaway", resolve));
  let opened = 0;
  // Open and reset at once, without waiting for anything: the shape of the rapid-reset attack.
  while (opened < 30_000 && !session.closed && !session.destroyed) {
    const stream = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Watch" });
    stream.on("error", () => {});
    stream.close(constants.NGHTTP2_CANCEL);
    opened++;
    if (opened % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("none"), 10_000);
  });
  const code = await Promise.race([goaway, timeout]);
  clearTimeout(timer);
  assert.notEqual(code, "none", `no GOAWAY after ${opened} reset streams`);
});

test("a connection may hold 1,000 streams at once: the server says so in its SETTINGS, and serves them all", {
  timeout: 60_000,
}, async (t) => {
  const { s, session } = await serverAndSession(t);
  await new Promise((resolve) => session.once("remoteSettings", resolve));
  // Without a limit Node advertises none, and one connection could open streams by the hundred thousand.
  assert.equal(session.remoteSettings.maxConcurrentStreams, 1000);
  const watches = Array.from({ length: 1000 }, () => {
    const stream = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Watch",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => {});
    stream.end(Buffer.from([0, 0, 0, 0, 0])); // an empty HealthCheckRequest: the whole server
    return new Promise<void>((resolve) => stream.once("data", () => resolve()));
  });
  await Promise.all(watches); // each open stream got its first status
  assert.equal(s.server.calls.active, 1000);
});
