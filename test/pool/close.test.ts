import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { SearchPool } from "../../src/pool/pool.ts";
import { collect, find, NEVER, noAbort } from "./helpers.ts";

test("close() ends running and queued searches with the reason and refuses new ones", {
  timeout: 30_000,
}, async () => {
  const pool = new SearchPool({ workers: 1, maxRunning: 1, maxQueued: 4, maxPerClient: 0 });
  const running = collect(pool.search(noAbort(), { query: NEVER, budget: 0, client: "c" }));
  const queued = collect(pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" }));
  await pool.whenExecuting(noAbort());
  const reason = new Error("going down");
  await pool.close(reason);
  assert.equal((await running).error, reason);
  assert.equal((await queued).error, reason);
  assert.throws(
    () => pool.search(noAbort(), { query: find("a", 0), budget: 0, client: "c" }),
    (error) => error === reason,
  );
  await pool.whenIdle();
  await pool.close();
});

test("close() without a reason uses the shutdown error (UNAVAILABLE)", async () => {
  const pool = new SearchPool({ workers: 1, maxQueued: 1, maxPerClient: 0 });
  await pool.close();
  assert.throws(
    () => pool.search(noAbort(), { query: find("a", 0), budget: 0, client: "c" }),
    (error) => error instanceof ConnectError && error.code === Code.Unavailable,
  );
});

test("after close() the process exits on its own: no thread is left", { timeout: 30_000 }, async () => {
  const script = fileURLToPath(new URL("./fixtures/close-and-exit.ts", import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
  assert.match(stdout, /hit 101/);
  assert.match(stdout, /running search ended: .*server shutting down/);
});
