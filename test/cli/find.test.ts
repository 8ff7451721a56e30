/** `cancelkit find` as a person runs it: answers, exit codes and one-line messages, and Ctrl-C. */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { startDelayProxy } from "../helpers/delay-proxy.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { CLI, runCli, spawnCli } from "../helpers/spawn.ts";
import { waitUntil } from "../helpers/wait.ts";

/** "~" is not a base64 character, so this name never matches: the search runs until it is stopped. */
const NEVER = "~~~~";

describe("cancelkit find", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ maximumHashes: 50_000 });
  });
  after(() => s.close());

  const run = (args: string[]) => runCli(args);

  test("prints the secret, its bytes in hex, the hashed name and the distance", async () => {
    const r = await run(["find", "aa", "--server", s.address]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /secret ZA== {2}\(hex 64\) {2}hashed_name \S{28} {2}distance 0/);
    assert.equal(r.stderr, "", "nothing extra on stderr when it is not a terminal");
  });

  test("--json prints one object per result; --show-inferior streams FindRange", async () => {
    const r = await run([
      "find",
      "grpc",
      "--ideal",
      "1",
      "--show-inferior",
      "2",
      "--json",
      "--server",
      s.address,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { secret: string; hammingDistance: number });
    assert.ok(lines.length >= 1);
    assert.deepEqual(lines.at(-1), { ...lines.at(-1), secret: "Gw==", hammingDistance: 1 });
  });

  test("distinct exit codes and one-line messages", async () => {
    const invalid = await run(["find", "a".repeat(29), "--server", s.address]);
    assert.equal(invalid.code, 3);
    assert.match(invalid.stderr, /^invalid argument: desired_name: /);

    const budget = await run(["find", "doctor", "--server", s.address]);
    assert.equal(budget.code, 5);
    assert.match(budget.stderr, /^resource exhausted: search budget exhausted: maximum-hashes=50000/);

    const unreachable = await run(["find", "aa", "--server", "127.0.0.1:1"]);
    assert.equal(unreachable.code, 6);
    assert.match(unreachable.stderr, /^server unreachable at 127\.0\.0\.1:1/);

    const usage = await run(["find", "--ideal", "x", "aa"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--ideal/);

    const badTimeout = await run(["find", "aa", "--timeout", "soon", "--server", s.address]);
    assert.equal(badTimeout.code, 2);
    assert.match(badTimeout.stderr, /^cancelkit: --timeout: "soon" is not a duration/);
  });

  test("--timeout → exit 4 with 'deadline exceeded', and the server stops the search", async () => {
    const unlimited = await startTestServer({ maximumHashes: 0 });
    try {
      const r = await run(["find", NEVER, "--timeout", "300ms", "--server", unlimited.address]);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /^deadline exceeded/);
      await unlimited.server.pool.whenIdle();
      assert.equal(unlimited.server.pool.stats().running, 0);
    } finally {
      await unlimited.close();
    }
  });

  test("Ctrl-C cancels the call: prints 'cancelled', exits 130, the server sees CANCELLED and goes idle", async () => {
    const unlimited = await startTestServer({ maximumHashes: 0 });
    let cli: ReturnType<typeof spawnCli> | undefined;
    try {
      cli = spawnCli(["find", NEVER, "--server", unlimited.address]);
      await waitUntil("the search is running", () => unlimited.server.pool.stats().busyWorkers > 0);
      cli.child.kill("SIGINT");
      assert.equal(await cli.exited, 130);
      assert.equal(cli.stderr().trim(), "cancelled");
      const line = await unlimited.callLog("hash_name.HashFinder/Find");
      assert.equal(line.outcome, "CANCELLED");
      assert.equal(line.cause, "client-cancelled");
      await unlimited.server.pool.whenIdle();
      assert.equal(unlimited.server.pool.stats().running, 0);
    } finally {
      cli?.kill();
      await unlimited.close();
    }
  });
});

describe("cancelkit find, ended by SIGTERM or SIGHUP", () => {
  // The default action killed the CLI outright, with no message: the server saw only a dropped connection.
  for (const [signal, exit] of [
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    test(`${signal} cancels the call as Ctrl-C does: 'cancelled', exit ${exit}, the server sees client-cancelled`, async (t) => {
      const s = await startTestServer({ maximumHashes: 0 });
      t.after(() => s.close());
      const cli = spawnCli(["find", NEVER, "--server", s.address]);
      t.after(() => cli.kill());
      await waitUntil("the search runs", () => s.server.pool.stats().busyWorkers > 0);
      cli.child.kill(signal);
      assert.equal(await cli.exited, exit, cli.stderr());
      assert.equal(cli.stderr(), "cancelled\n");
      const line = await s.callLog("hash_name.HashFinder/Find");
      assert.deepEqual([line.outcome, line.cause], ["CANCELLED", "client-cancelled"]);
    });
  }
});

describe("cancelkit find on a terminal", () => {
  /** The lines a terminal shows for `output`: each carriage return starts the line over, ESC[2K erases it. */
  function screenLines(output: string): string[] {
    return output
      .split("\n")
      .map((line) => (line.replace(/\r$/, "").split("\r").at(-1) ?? "").replaceAll("\x1b[2K", ""));
  }

  test("--show-inferior: each result on a line of its own, not after the elapsed time", async (t) => {
    // `script` runs the CLI on a pseudo-terminal (stdout and stderr both), as a person at a terminal does.
    if (spawnSync("script", ["--version"]).error !== undefined)
      return t.skip("no `script` (util-linux) here");
    const s = await startTestServer({ maximumHashes: 0 });
    t.after(() => s.close());
    // Answers held back 400 ms: the elapsed time has been drawn when the results come.
    const proxy = await startDelayProxy(s.address, { toServerMs: 0, toClientMs: 400 });
    t.after(() => proxy.close());
    const args = ["find", "grpc", "--ideal", "1", "--show-inferior", "2", "--server", proxy.address];
    const command = [process.execPath, CLI, ...args].map((word) => `'${word}'`).join(" ");
    const cli = spawn("script", ["-qefc", command, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] });
    t.after(() => cli.kill("SIGKILL"));
    let output = "";
    cli.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const [code] = (await once(cli, "exit")) as [number | null];
    assert.equal(code, 0, JSON.stringify(output));
    assert.match(output, /searching for "grpc"… \d\.\ds/, "the elapsed time was drawn");
    const results = screenLines(output).filter((line) => line.includes("hashed_name"));
    assert.ok(results.length >= 2, JSON.stringify(output));
    // It was "searching for "grpc"… 0.4ssecret …" when a result came after a draw.
    for (const line of results) assert.match(line, /^secret \S+ {2}\(hex /, JSON.stringify(line));
  });
});

describe("cancelkit find, when the connection drops", () => {
  test("a connection cut mid-call is the server's doing, not a Ctrl-C: exit 6 and a message that says so", async (t) => {
    const s = await startTestServer({ maximumHashes: 0 });
    t.after(() => s.close());
    // A proxy in front of the server, so that the test can cut the connection as a crashing server would.
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect(s.server.port, "127.0.0.1");
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("error", () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    t.after(() => proxy.close());
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const { port } = proxy.address() as AddressInfo;
    const cli = spawnCli(["find", NEVER, "--server", `127.0.0.1:${port}`]);
    t.after(() => cli.kill());
    await waitUntil("the search runs", () => s.server.pool.stats().busyWorkers > 0);
    for (const socket of sockets) socket.destroy();
    assert.equal(await cli.exited, 6, cli.stderr());
    assert.match(cli.stderr(), new RegExp(`^server at 127\\.0\\.0\\.1:${port} ended the call: `));
  });
});

describe("cancelkit find, when what answers is no gRPC server", () => {
  test("an HTTP/1.1 server: exit 6, 'does not speak gRPC over HTTP/2 without TLS', not 'error (Internal)'", async (t) => {
    // It was "error (Internal): Protocol error", exit 1: node:http2's words for an answer that is no HTTP/2.
    const web = createHttpServer((_, res) => res.end("hello"));
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
    t.after(() => web.close());
    const address = `127.0.0.1:${(web.address() as AddressInfo).port}`;
    const cli = spawnCli(["find", "aa", "--server", address]);
    t.after(() => cli.kill());
    assert.equal(await cli.exited, 6, cli.stderr());
    assert.equal(
      cli.stderr(),
      `server at ${address} does not speak gRPC over HTTP/2 without TLS: Protocol error\n`,
    );
  });
});

describe("cancelkit find, when the server shuts down", () => {
  // A server that is stopping answered: "unreachable" would send the user looking for a network problem.
  test("a call ended by the server's shutdown: exit 6, 'ended the call' naming the server, not 'unreachable'", async (t) => {
    const s = await startTestServer({ maximumHashes: 0 });
    t.after(() => s.close());
    const cli = spawnCli(["find", NEVER, "--server", s.address]);
    t.after(() => cli.kill());
    await waitUntil("the search runs", () => s.server.pool.stats().busyWorkers > 0);
    await s.server.shutdown(0);
    assert.equal(await cli.exited, 6, cli.stderr());
    assert.equal(cli.stderr().trim(), `server at ${s.address} ended the call: server shutting down`);
  });
});
