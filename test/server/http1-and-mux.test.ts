/** The one-port mux and the HTTP/1.1 side: stalled connections, keep-alive connections at shutdown. */
import assert from "node:assert/strict";
import { once } from "node:events";
import { Agent, createServer as createHttp1Server, request } from "node:http";
import { connect as connectHttp2, createServer as createHttp2Server } from "node:http2";
import { connect, createServer as createNetServer, type Socket } from "node:net";
import { describe, test } from "node:test";
import { routeConnection } from "../../src/server/protocol-mux.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitUntil } from "../helpers/wait.ts";

const NEVER = "\u0000\u0000\u0000\u0000";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  socket: Socket;
}

/** One Connect-protocol unary call over HTTP/1.1 with `agent` (JSON in, JSON out). */
function postJson(agent: Agent, address: string, path: string, message: object): Promise<Answer> {
  const [host, port] = address.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host,
        port: Number(port),
        path,
        method: "POST",
        headers: { "content-type": "application/json" },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket }));
      },
    );
    // The agent takes the socket back once the response has ended: keep hold of it from the start.
    let socket: Socket;
    req.once("socket", (s) => {
      socket = s;
    });
    req.on("error", reject);
    req.end(JSON.stringify(message));
  });
}

describe("HTTP/1.1 keep-alive connections at shutdown", () => {
  test("an idle one is closed when shutdown starts, not after the grace period", async () => {
    const s = await startTestServer({ maximumHashes: 0 });
    const agent = new Agent({ keepAlive: true });
    const other = new Agent({ keepAlive: true });
    try {
      const first = await postJson(agent, s.address, "/hash_name.HashFinder/Find", { desiredName: "aa" });
      assert.equal(first.status, 200);
      const idleClosed = once(first.socket, "close");
      // A call on another connection that outlasts the grace keeps the drain waiting for it; the idle
      // connection must not wait with it. HTTP/1.1 as well, so that no GOAWAY can end it early.
      let longCall = "running";
      const running = postJson(other, s.address, "/hash_name.HashFinder/Find", { desiredName: NEVER }).then(
        ({ status, body }) => {
          longCall = `ended: HTTP ${status} ${body}`;
        },
      );
      // The first call's workers may still count as busy for a moment: wait for this call to be in the server.
      await waitUntil("the long call is running", () => s.server.calls.active > 0);
      await waitUntil("its search is running", () => s.server.pool.stats().busyWorkers > 0);
      const stopping = s.server.shutdown(2_000);
      await idleClosed;
      assert.equal(longCall, "running", "the idle connection closed only after the long call ended");
      assert.ok(!s.log.entries.some((e) => e.phase === "aborting"), "closed before the grace ran out");
      await running;
      assert.match(longCall, /server shutting down/);
      await stopping;
    } finally {
      agent.destroy();
      other.destroy();
      await s.close();
    }
  });

  test("a call in flight when shutdown starts is answered with connection: close", async () => {
    const s = await startTestServer({ maximumHashes: 0 });
    const agent = new Agent({ keepAlive: true });
    try {
      const answer = postJson(agent, s.address, "/hash_name.HashFinder/Find", { desiredName: "doctor" });
      await waitUntil("the search is running", () => s.server.pool.stats().busyWorkers > 0);
      const stopping = s.server.shutdown(10_000);
      const { status, headers, body, socket } = await answer;
      assert.equal(status, 200);
      assert.match(body, /pO0G/);
      assert.equal(headers.connection, "close");
      if (!socket.destroyed) await once(socket, "close");
      await stopping;
    } finally {
      agent.destroy();
      await s.close();
    }
  });
});

describe("the protocol mux", () => {
  test("a connection that never says which protocol it speaks is closed after the sniff timeout", {
    timeout: 10_000,
  }, async () => {
    const h1 = createHttp1Server(() => assert.fail("no request expected"));
    const h2 = createHttp2Server(() => assert.fail("no stream expected"));
    const net = createNetServer((socket) => routeConnection(socket, h2, h1, 200));
    net.listen(0, "127.0.0.1");
    await once(net, "listening");
    const address = net.address();
    assert.ok(address !== null && typeof address === "object");
    try {
      // Silent, and stalled part-way through the HTTP/2 preface: neither server has the socket yet.
      for (const firstBytes of ["", "PRI * HTTP/2.0\r\n"]) {
        const client = connect(address.port, "127.0.0.1");
        await once(client, "connect");
        if (firstBytes) client.write(firstBytes);
        const started = performance.now();
        await once(client, "close");
        const waited = performance.now() - started;
        assert.ok(waited >= 150 && waited < 5_000, `closed after ${waited.toFixed(0)} ms`);
      }
    } finally {
      net.close();
    }
  });

  // The sniff timeout is for a connection neither server owns yet. Left armed, it would close every connection
  // idle that long once routed: an HTTP/2 connection between calls, or one whose only stream (a Watch) is quiet.
  // (The HTTP/1.1 server sets its own keep-alive timeout on the socket; the HTTP/2 server sets none.)
  test("a routed connection is no longer under the sniff timeout: idle for many times it, it still serves", {
    timeout: 10_000,
  }, async () => {
    const h1 = createHttp1Server(() => assert.fail("no request expected"));
    const h2 = createHttp2Server((_req, res) => res.end("ok"));
    const net = createNetServer((socket) => routeConnection(socket, h2, h1, 100));
    net.listen(0, "127.0.0.1");
    await once(net, "listening");
    const address = net.address();
    assert.ok(address !== null && typeof address === "object");
    const session = connectHttp2(`http://127.0.0.1:${address.port}`);
    session.on("error", () => {});
    let closed = false;
    session.on("close", () => {
      closed = true;
    });
    const ask = async () => {
      const stream = session.request({ ":path": "/" });
      stream.setEncoding("utf8");
      let body = "";
      stream.on("data", (chunk: string) => {
        body += chunk;
      });
      await once(stream, "end");
      return body;
    };
    try {
      assert.equal(await ask(), "ok");
      // Ten sniff timeouts with nothing on the wire.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(closed, false, "the idle connection was closed");
      assert.equal(await ask(), "ok");
    } finally {
      session.destroy();
      net.close();
    }
  });

  // Before a server owns the socket, nothing else listens for its errors: one unhandled ECONNRESET there would
  // end the process, so any client could take the server down by resetting mid-preface.
  test("a connection reset before it says which protocol it speaks is closed; the mux goes on", {
    timeout: 10_000,
  }, async () => {
    const h1 = createHttp1Server((_req, res) => res.end("ok"));
    const h2 = createHttp2Server(() => assert.fail("no stream expected"));
    const serverSide: Promise<void>[] = [];
    const net = createNetServer((socket) => {
      // Not events.once: it would listen for 'error' itself and hide a missing handler.
      serverSide.push(new Promise((resolve) => socket.on("close", () => resolve())));
      routeConnection(socket, h2, h1, 10_000);
    });
    net.listen(0, "127.0.0.1");
    await once(net, "listening");
    const address = net.address();
    assert.ok(address !== null && typeof address === "object");
    try {
      const client = connect(address.port, "127.0.0.1");
      await once(client, "connect");
      client.write("PRI * HTTP/2.0\r\n");
      await waitUntil("the server has the connection", () => serverSide.length === 1);
      client.resetAndDestroy();
      await serverSide[0];
      const next = connect(address.port, "127.0.0.1");
      await once(next, "connect");
      next.setEncoding("latin1");
      let received = "";
      next.on("data", (chunk: string) => {
        received += chunk;
      });
      next.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      await once(next, "end");
      assert.match(received, /^HTTP\/1\.1 200 /);
      next.destroy();
    } finally {
      net.close();
      h1.close();
    }
  });
});
