/**
 * What the server does with requests Connect's adapter cannot take as they come: an authority that is not a valid
 * URL (one such request used to crash the process), and a deadline beyond the range of Node's timers (which used
 * to fire at once); and that a response the client resets while it is being written fails its write quietly.
 */
import assert from "node:assert/strict";
import { request as http1Request } from "node:http";
import { connect as connectHttp2, constants } from "node:http2";
import { createConnection } from "node:net";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { HashNameRequestSchema, HashNameResponseSchema } from "../../src/gen/hash_name/hash_name_pb.ts";
import { rawGrpcCall } from "../helpers/raw-grpc.ts";
import { connectDroppable } from "../helpers/raw-h2.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitUntil } from "../helpers/wait.ts";

const FIND = "/hash_name.HashFinder/Find";
/** Find("aa", 0): answered at once, with the reference's secret "ZA==". */
const FIND_AA = toBinary(HashNameRequestSchema, create(HashNameRequestSchema, { desiredName: "aa" }));

/** Sends one raw HTTP/1.1 request on its own connection and returns the whole response text. */
function rawHttp1(address: string, text: string): Promise<string> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port: Number(port) });
    let response = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      response += chunk;
    });
    socket.once("error", reject);
    socket.once("close", () => resolve(response));
    socket.write(text);
  });
}

/** Waits `ms`; only where a test needs a server-side timer to have fired, never to prove an ordering. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a request whose authority is not a valid URL", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  const refusals = () => s.log.entries.filter((e) => e.level === "warn" && e.event === "request");

  // Bounded: under the test runner an exception in the server's request listener does not end the process, and
  // the request just never gets an answer.
  const BOUND = { timeout: 10_000 };

  test(
    "HTTP/1.1 Host 'x:99999', 'a b' or '[' → HTTP 400, one warn line each; the server keeps serving",
    BOUND,
    async () => {
      const before = refusals().length;
      for (const host of ["x:99999", "a b", "["]) {
        const response = await rawHttp1(
          s.address,
          `POST ${FIND} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/proto\r\n` +
            "Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
        assert.match(response, /^HTTP\/1\.1 400 /, `Host: ${host}`);
        assert.match(response, /invalid authority/, `Host: ${host}`);
      }
      const lines = refusals().slice(before);
      assert.equal(lines.length, 3, JSON.stringify(lines));
      assert.equal(lines[0]?.path, FIND);
      const res = await s.hashFinder(s.connectHttp1()).find({ desiredName: "aa" });
      assert.equal(res.secret, "ZA==");
    },
  );

  test(
    "HTTP/2 gRPC with :authority 'x:99999' → INVALID_ARGUMENT; the next call on the same connection is OK",
    BOUND,
    async () => {
      const session = connectHttp2(`http://${s.address}`);
      session.on("error", () => {});
      try {
        const before = refusals().length;
        const bad = rawGrpcCall(session, FIND, { ":authority": "x:99999" });
        bad.send(FIND_AA);
        bad.stream.end();
        const refused = await bad.result;
        assert.equal(refused.headers[":status"], 200);
        assert.equal(refused.status, String(Code.InvalidArgument), JSON.stringify(refused));
        assert.match(refused.message ?? "", /invalid authority.*x:99999/);
        assert.equal(refusals().length, before + 1);

        const good = rawGrpcCall(session, FIND);
        good.send(FIND_AA);
        good.stream.end();
        const answered = await good.result;
        assert.equal(answered.status, "0", JSON.stringify(answered));
        assert.equal(
          fromBinary(HashNameResponseSchema, answered.messages[0] ?? new Uint8Array()).secret,
          "ZA==",
        );
      } finally {
        session.close();
      }
      assert.equal((await s.hashFinder().find({ desiredName: "aa" })).secret, "ZA==");
    },
  );
});

describe("a gRPC call to a method or service the server does not serve", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  test("→ UNIMPLEMENTED naming it, trailers-only with a gRPC content-type (not the 404 page); one call line", async () => {
    const session = connectHttp2(`http://${s.address}`);
    session.on("error", () => {});
    try {
      for (const [path, named] of [
        ["/hash_name.HashFinder/Nope", "unknown method Nope for service hash_name.HashFinder"],
        ["/x.Y/Z", "unknown service x.Y"],
      ] as const) {
        const call = rawGrpcCall(session, path);
        call.send(FIND_AA);
        call.stream.end();
        const result = await call.result;
        assert.equal(result.headers[":status"], 200, JSON.stringify(result));
        assert.equal(result.headers["content-type"], "application/grpc");
        assert.equal(result.status, String(Code.Unimplemented));
        assert.equal(result.message, named);
        const line = await s.log.waitFor((e) => e.event === "call" && e.method === path.slice(1));
        assert.equal(line.outcome, "UNIMPLEMENTED");
        assert.equal(line.error, named);
      }
      // The connection goes on.
      const good = rawGrpcCall(session, FIND);
      good.send(FIND_AA);
      good.stream.end();
      assert.equal((await good.result).status, "0");
    } finally {
      session.close();
    }
    // Connect and plain HTTP still get the 404 page.
    const page = await fetch(`http://${s.address}/hash_name.HashFinder/Nope`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(page.status, 404);
  });
});

describe("a gRPC message compressed with an encoding the server does not take", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  test("→ UNIMPLEMENTED with grpc-accept-encoding listing the ones it takes, as the gRPC spec asks", async () => {
    const session = connectHttp2(`http://${s.address}`);
    session.on("error", () => {});
    try {
      const call = rawGrpcCall(session, FIND, { "grpc-encoding": "snappy" });
      call.send(FIND_AA);
      call.stream.end();
      const result = await call.result;
      assert.equal(result.status, String(Code.Unimplemented), JSON.stringify(result));
      assert.match(result.message ?? "", /snappy/);
      assert.deepEqual(String(result.headers["grpc-accept-encoding"]).split(",").sort(), [
        "br",
        "gzip",
        "identity",
      ]);
      // A call the server takes is not given the header.
      const good = rawGrpcCall(session, FIND, { "grpc-encoding": "identity" });
      good.send(FIND_AA);
      good.stream.end();
      const ok = await good.result;
      assert.equal(ok.status, "0");
      assert.equal(ok.headers["grpc-accept-encoding"], undefined);
    } finally {
      session.close();
    }
  });
});

describe("a request Connect does not take: wrong content type, method or HTTP version", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  const post = (path: string, contentType: string, body = "{}") =>
    fetch(`http://${s.address}${path}`, { method: "POST", headers: { "content-type": contentType }, body });

  test("415 says which content types the method takes, and a streaming method's differ from a unary one's", async () => {
    const unary = await post(FIND, "text/plain");
    assert.equal(unary.status, 415);
    assert.match(
      await unary.text(),
      /unsupported content-type "text\/plain": .*Find takes application\/json/,
    );
    // The mistake curl users make: plain JSON to a server-streaming method.
    const stream = await post("/todo.v2.TodoService/ListTasks", "application/json");
    assert.equal(stream.status, 415);
    assert.match(await stream.text(), /ListTasks takes application\/connect\+json/);
    const textMode = await post(FIND, "application/grpc-web-text", "AAAAAAA=");
    assert.equal(textMode.status, 415);
    assert.match(await textMode.text(), /gRPC-Web text mode is not served/);
    const line = await s.log.waitFor((e) => e.event === "call" && /grpc-web-text/.test(String(e.error)));
    assert.equal(line.method, "hash_name.HashFinder/Find");
  });

  test("405 names POST (and says Allow: POST); a bidi stream over HTTP/1.1 gets 505 saying it needs HTTP/2", async () => {
    const get = await fetch(`http://${s.address}${FIND}`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    assert.match(await get.text(), /called with POST, not GET/);
    const bidi = await post("/todo.v2.TodoService/DeleteTasks", "application/connect+json");
    assert.equal(bidi.status, 505);
    assert.match(await bidi.text(), /DeleteTasks is a bidirectional stream: it needs HTTP\/2/);
  });
});

describe("a deadline beyond Node's longest timer (2^31−1 ms, about 24.8 days)", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  // Node turns an overflowing setTimeout into 1 ms. Each request's body is sent well after that, so that a call
  // given such a timer has certainly timed out before the handler runs (the search itself may take under 1 ms).
  const PAST_AN_OVERFLOWED_TIMER_MS = 50;

  test("gRPC, grpc-timeout 2592000S (30 days): the call completes OK, not DEADLINE_EXCEEDED", async () => {
    const session = connectHttp2(`http://${s.address}`);
    session.on("error", () => {});
    try {
      const call = rawGrpcCall(session, FIND, { "grpc-timeout": "2592000S" });
      await sleep(PAST_AN_OVERFLOWED_TIMER_MS);
      call.send(FIND_AA);
      call.stream.end();
      const result = await call.result;
      assert.equal(result.status, "0", JSON.stringify(result));
      assert.equal(fromBinary(HashNameResponseSchema, result.messages[0] ?? new Uint8Array()).secret, "ZA==");
    } finally {
      session.close();
    }
    const line = await s.callLog("hash_name.HashFinder/Find");
    assert.equal(line.outcome, "ok", JSON.stringify(line));
  });

  test("Connect over HTTP/1.1, connect-timeout-ms 2592000000 (30 days): the call completes OK", async () => {
    const [host, port] = s.address.split(":");
    const response = await new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
      const req = http1Request(
        {
          host,
          port: Number(port),
          method: "POST",
          path: FIND,
          headers: { "content-type": "application/json", "connect-timeout-ms": "2592000000" },
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            body += chunk;
          });
          res.on("end", () => resolve({ status: res.statusCode, body }));
        },
      );
      req.on("error", reject);
      req.flushHeaders();
      setTimeout(() => req.end(JSON.stringify({ desiredName: "aa" })), PAST_AN_OVERFLOWED_TIMER_MS);
    });
    assert.equal(response.status, 200, response.body);
    assert.equal((JSON.parse(response.body) as { secret?: string }).secret, "ZA==");
  });
});

describe("a call answered before its request is complete", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  test("refused for its size while the client still sends: trailers, then RST_STREAM NO_ERROR stops the body", async () => {
    const session = connectHttp2(`http://${s.address}`);
    session.on("error", () => {});
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": FIND,
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => {});
      const trailers = new Promise<string | undefined>((resolve) =>
        stream.once("trailers", (t) => resolve(String(t["grpc-status"]))),
      );
      const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
      stream.resume();
      // A message declared 5 MiB long, its body sent a chunk at a time and never ended by the client.
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(5 * 1024 * 1024, 1);
      stream.write(prefix);
      const chunk = Buffer.alloc(16_384, 1);
      let sent = 0;
      const sending = setInterval(() => {
        if (stream.closed || sent >= 5 * 1024 * 1024) return;
        stream.write(chunk);
        sent += chunk.length;
      }, 2);
      try {
        assert.equal(await trailers, String(Code.ResourceExhausted));
        // Without the reset the stream stays open for as long as the client goes on sending, and after.
        const outcome = await Promise.race([
          closed.then(() => "closed"),
          sleep(10_000).then(() => "still open"),
        ]);
        assert.equal(outcome, "closed");
        assert.equal(stream.rstCode, 0, "NO_ERROR: the answer stands");
        assert.ok(sent < 5 * 1024 * 1024, `the client stopped sending (${sent} bytes sent)`);
      } finally {
        clearInterval(sending);
      }
    } finally {
      session.destroy();
    }
  });
});

describe("a response the client resets while the server is writing it", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ maximumHashes: 0 });
  });
  after(() => s.close());

  const FIND_RANGE = "hash_name.HashFinder/FindRange";
  /** FindRange("\0\0\0\0", 0, 4): every candidate is within distance 4, so responses stream until stopped. */
  const ENDLESS = toBinary(
    HashNameRequestSchema,
    create(HashNameRequestSchema, { desiredName: "\u0000\u0000\u0000\u0000", interestingHammingDistance: 4 }),
  );
  const responseWarns = () => s.log.entries.filter((e) => e.level === "warn" && e.event === "response");

  // The write fails (write ECANCELED, an INTERNAL ConnectError) in the turn the server reads the RST_STREAM,
  // a fraction of a millisecond after the call line; the warn, were it written, would follow in the same turn.
  for (const [resetName, rstCode] of [
    ["CANCEL", constants.NGHTTP2_CANCEL],
    ["NO_ERROR", constants.NGHTTP2_NO_ERROR], // no status of its own: the signal is Connect's, a turn later
  ] as const) {
    for (const client of ["stops reading (the write waits for flow control)", "reads on"] as const) {
      test(`RST_STREAM ${resetName} while the client ${client} → CANCELLED client-cancelled, no "response" warn`, async () => {
        const warnsBefore = responseWarns().length;
        const connection = connectDroppable(s.address);
        try {
          const call = rawGrpcCall(connection.session, `/${FIND_RANGE}`);
          const logged = s.log.waitFor((e) => e.event === "call" && e.peer === connection.peer, 20_000);
          call.send(ENDLESS);
          call.stream.end();
          if (client === "reads on") {
            // Reset from the client's data handler, well into the stream, while the search goes on producing.
            let received = 0;
            await new Promise<void>((resolve) =>
              call.stream.on("data", (chunk: Buffer) => {
                received += chunk.length;
                if (received >= 256 * 1024) resolve();
              }),
            );
          } else {
            call.stream.pause();
            // The client's window and the server's buffers are full: the response write waits on 'drain', and
            // the search waits for it.
            await waitUntil("the response backs up", () => s.server.pool.stats().waitingForReader === 1);
          }
          call.stream.close(rstCode);
          const line = await logged;
          assert.equal(line.method, FIND_RANGE);
          assert.deepEqual(
            [line.outcome, line.cause],
            ["CANCELLED", "client-cancelled"],
            JSON.stringify(line),
          );
          // A call on the same connection, begun after the call line: by its answer the server has long since
          // been through the turn in which the reset's write failed.
          const next = rawGrpcCall(connection.session, FIND);
          next.send(FIND_AA);
          next.stream.end();
          assert.equal((await next.result).status, "0");
          assert.deepEqual(responseWarns().slice(warnsBefore), []);
        } finally {
          connection.session.destroy();
        }
        await s.server.pool.whenIdle();
      });
    }
  }

  test('Connect over HTTP/1.1, the client stops reading, then closes its connection → CANCELLED disconnected, no "response" warn', async () => {
    const warnsBefore = responseWarns().length;
    const [host, port] = s.address.split(":");
    const socket = createConnection({ host, port: Number(port) });
    await new Promise((resolve) => socket.once("connect", resolve));
    const peer = `127.0.0.1:${socket.localPort}`;
    const logged = s.log.waitFor((e) => e.event === "call" && e.peer === peer, 20_000);
    const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, ENDLESS.length]), ENDLESS]);
    socket.write(
      `POST /${FIND_RANGE} HTTP/1.1\r\nHost: ${s.address}\r\nContent-Type: application/connect+proto\r\n` +
        `Content-Length: ${envelope.length}\r\n\r\n`,
    );
    socket.write(envelope);
    socket.pause();
    // The socket's buffers are full: the response write waits on 'drain', and the search waits for it.
    await waitUntil("the response backs up", () => s.server.pool.stats().waitingForReader === 1);
    // Node cancels the write it holds (write ECANCELED) as the socket closes, before it reports the close.
    socket.destroy();
    const line = await logged;
    assert.deepEqual([line.outcome, line.cause], ["CANCELLED", "disconnected"], JSON.stringify(line));
    // A call begun after the call line: by its answer the server has long since been through the failed write.
    assert.equal((await s.hashFinder(s.connectHttp1()).find({ desiredName: "aa" })).secret, "ZA==");
    assert.deepEqual(responseWarns().slice(warnsBefore), []);
    await s.server.pool.whenIdle();
  });
});
