/**
 * What the server does with requests Connect's adapter cannot take as they come: an authority that is not a valid
 * URL (one such request used to crash the process), and a deadline beyond the range of Node's timers (which used
 * to fire at once).
 */
import assert from "node:assert/strict";
import { request as http1Request } from "node:http";
import { connect as connectHttp2 } from "node:http2";
import { createConnection } from "node:net";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { HashNameRequestSchema, HashNameResponseSchema } from "../../src/gen/hash_name/hash_name_pb.ts";
import { rawGrpcCall } from "../helpers/raw-grpc.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

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
