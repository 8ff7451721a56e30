/**
 * `cancelkit serve` through the installed command (bin/cancelkit.js), which runs the server in a child: one
 * signal is one shutdown whether it reaches the wrapper alone, as from a supervisor, or the whole process group,
 * as from a terminal; and a wrapper killed outright takes its server with it instead of leaving it on the port.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as connectHttp2 } from "node:http2";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { HashNameRequestSchema } from "../../src/gen/hash_name/hash_name_pb.ts";
import { rawGrpcCall } from "../helpers/raw-grpc.ts";
import { BIN } from "../helpers/spawn.ts";
import { waitUntil } from "../helpers/wait.ts";

interface Wrapped {
  wrapper: ChildProcess;
  /** Everything the wrapper and its server wrote to stdout and stderr. */
  output(): string;
  /** The wrapper's exit code, or the signal that killed it. */
  exited: Promise<number | string>;
  /** Resolves when the wrapper and its server have both closed their output: output() is complete. */
  closed: Promise<void>;
  /** The server process and its port, from its "listening" log line. */
  server: { pid: number; port: number };
}

/**
 * Starts the wrapper in a process group of its own (its id is the wrapper's pid), like a shell's job; `viaNpm`:
 * as `npm start` does (npm, then `sh -c`, then the wrapper), and `wrapper` is then npm.
 */
async function startWrapper(dataDir: string, viaNpm = false, extra: string[] = []): Promise<Wrapped> {
  const options = ["--port", "0", "--workers", "1", "--data-dir", dataDir, ...extra];
  const wrapper = viaNpm
    ? spawn("npm", ["start", "-s", "--", ...options], {
        cwd: dirname(dirname(BIN)),
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      })
    : spawn(process.execPath, [BIN, "serve", ...options], {
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
  let out = "";
  const exited = new Promise<number | string>((resolve) => {
    wrapper.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  // "exit" may come before the last output has been read; "close" comes after it.
  const closed = new Promise<void>((resolve) => wrapper.once("close", () => resolve()));
  const listening = new Promise<string>((resolve) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const line = /\{[^\n]*"event":"listening"[^\n]*\}/.exec(out)?.[0];
      if (line !== undefined) resolve(line);
    };
    wrapper.stdout?.on("data", onData);
    wrapper.stderr?.on("data", onData);
  });
  const line = await Promise.race([listening, exited.then((code) => `exited ${code}: ${out}`)]);
  assert.match(line, /^\{/);
  const { pid, port } = JSON.parse(line) as { pid: number; port: number };
  return { wrapper, output: () => out, exited, closed, server: { pid, port } };
}

/** What `promise` resolves to, or "still waiting" if it has not within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "still waiting"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"still waiting">((resolve) => {
    timer = setTimeout(resolve, ms, "still waiting");
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The wrapper's exit code within `ms`, once its output is complete (or "still waiting"). */
async function exitCode(w: Wrapped, ms: number): Promise<number | string> {
  const code = await within(w.exited, ms);
  await within(w.closed, 5000);
  return code;
}

/** Whether `pid` still runs: a zombie nobody has reaped yet has exited. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Whether a new server can listen on `port` of 127.0.0.1. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

/** Runs `body` with a started wrapper; afterwards kills whatever is left of its process group. */
async function withWrapper(
  body: (w: Wrapped) => Promise<void>,
  viaNpm = false,
  extra: string[] = [],
): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-wrapper-"));
  let w: Wrapped | undefined;
  try {
    w = await startWrapper(dataDir, viaNpm, extra);
    await body(w);
  } finally {
    const pgid = w?.wrapper.pid;
    if (pgid !== undefined) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {}
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function assertDrainedAndGone(w: Wrapped): Promise<void> {
  assert.match(w.output(), /"event":"shutdown","phase":"done"/);
  assert.doesNotMatch(w.output(), /"phase":"forced"/, "one signal, not two");
  await waitUntil("the server process is gone", () => !running(w.server.pid), 10_000);
  assert.ok(await portFree(w.server.port), "the port is free");
}

test("SIGINT to the wrapper alone (a supervisor, kill -INT PID): the server drains and exits 0", {
  timeout: 60_000,
}, async () => {
  await withWrapper(async (w) => {
    w.wrapper.kill("SIGINT");
    assert.equal(await exitCode(w, 15_000), 0, w.output());
    await assertDrainedAndGone(w);
  });
});

test("SIGINT or SIGTERM to the whole process group (a terminal's Ctrl-C): one shutdown, exit 0", {
  timeout: 60_000,
}, async () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    await withWrapper(async (w) => {
      process.kill(-(w.wrapper.pid ?? 0), signal);
      assert.equal(await exitCode(w, 15_000), 0, `${signal}: ${w.output()}`);
      assert.match(w.output(), new RegExp(`"phase":"signal","signal":"${signal}"`));
      await assertDrainedAndGone(w);
    });
  }
});

test("SIGKILL of the wrapper: the server shuts down at once and frees the port", {
  timeout: 60_000,
}, async () => {
  await withWrapper(async (w) => {
    w.wrapper.kill("SIGKILL");
    assert.equal(await w.exited, "SIGKILL");
    await waitUntil("the orphaned server is gone", () => !running(w.server.pid), 10_000);
    await w.closed;
    assert.match(w.output(), /"phase":"wrapper-gone"/);
    assert.match(w.output(), /"event":"shutdown","phase":"done"/);
    assert.ok(await portFree(w.server.port), "the port is free");
  });
});

test("SIGTERM to `npm start` alone (a container's CMD, a supervisor): the server drains and frees the port", {
  timeout: 60_000,
}, async () => {
  await withWrapper(async (w) => {
    // npm passes the signal to its `sh -c`, which dies without passing it on to the wrapper.
    w.wrapper.kill("SIGTERM");
    await waitUntil("the server process is gone", () => !running(w.server.pid), 15_000);
    await within(w.closed, 5000);
    await assertDrainedAndGone(w);
  }, true);
});

test("SIGINT or SIGTERM to the whole group of `npm start` (Ctrl-C, `timeout`): a running call drains, one shutdown", {
  timeout: 60_000,
}, async () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    await withWrapper(
      async (w) => {
        // A search with no budget keeps the server draining for its whole grace. npm exits at once on the signal,
        // and the wrapper used to count losing it as a second SIGTERM: "phase":"forced", exit 1, the call cut.
        const session = connectHttp2(`http://127.0.0.1:${w.server.port}`);
        session.on("error", () => {});
        try {
          const call = rawGrpcCall(session, "/hash_name.HashFinder/Find");
          call.send(
            toBinary(
              HashNameRequestSchema,
              create(HashNameRequestSchema, { desiredName: "unfindable-name" }),
            ),
          );
          call.stream.end();
          await new Promise((resolve) => setTimeout(resolve, 300)); // the call reaches the server and searches
          process.kill(-(w.wrapper.pid ?? 0), signal);
          await waitUntil("the server process is gone", () => !running(w.server.pid), 15_000);
          await within(w.closed, 5000);
          assert.match(w.output(), /"phase":"draining","activeCalls":1/, w.output());
          await assertDrainedAndGone(w);
          assert.notEqual(await within(call.result, 5000), "still waiting", "the call was answered");
        } finally {
          session.close();
        }
      },
      true,
      ["--maximum-hashes", "0", "--grace", "2s"],
    );
  }
});
