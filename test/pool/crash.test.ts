import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.ts";
import { errorOf } from "../helpers/call-error.ts";
import { startTestServer } from "../helpers/server.ts";
import { collect, find, noAbort, usePool } from "./helpers.ts";

const crashingWorker = new URL("./fixtures/crashing-worker.ts", import.meta.url);

test("a crashed worker fails its search with INTERNAL and is replaced", { timeout: 30_000 }, async (t) => {
  const pool = usePool(t, { workers: 2, workerUrl: crashingWorker });
  const { hits, error } = await collect(
    pool.search(noAbort(), { query: find("crash", 0), budget: 0, client: "c" }),
  );
  assert.deepEqual(hits, []);
  assert.ok(error instanceof ConnectError);
  assert.equal(error.code, Code.Internal);
  assert.equal(error.message, "[internal] internal error", "no detail reaches the client");
  assert.match(String((error.cause as Error).message), /exited with code 70/);

  await pool.whenIdle();
  assert.equal(pool.stats().workers, 2);
  // Both threads (the replacement included) serve the next searches.
  const answers = await Promise.all(
    ["aa", "doc"].map((target) =>
      collect(pool.search(noAbort(), { query: find(target, 0), budget: 0, client: "c" })),
    ),
  );
  assert.deepEqual(
    answers.map((answer) => answer.hits),
    [[{ index: 101, distance: 0 }], [{ index: 448, distance: 0 }]],
  );
});

test("a worker that dies inside the kernel leaves no count behind: later stops on its slot do not wait it out", {
  timeout: 30_000,
}, async (t) => {
  const pool = usePool(t, { workers: 1, workerUrl: crashingWorker, stopWaitMs: 1_000 });
  const { error } = await collect(
    pool.search(noAbort(), { query: find("crash inside", 0), budget: 0, client: "c" }),
  );
  assert.equal(ConnectError.from(error).code, Code.Internal);
  await pool.whenIdle();
  assert.equal(pool.executing(), 0, "no worker is inside the kernel");
  // The next search takes the freed slot; its cancel must find that slot's count at 0 once the worker is out.
  const controller = new AbortController();
  const run = pool.search(controller.signal, { query: find("~~~~", 0), budget: 0, client: "c" });
  await pool.whenExecuting(noAbort());
  controller.abort();
  await collect(run);
  const { waits, timedOut } = pool.stats().stopWaits;
  assert.ok(waits >= 1, "the stop slept until the worker was out");
  assert.equal(timedOut, 0, "and was not left waiting for the dead thread");
});

test("a kernel exception fails only its search with INTERNAL; the thread survives", {
  timeout: 30_000,
}, async (t) => {
  const pool = usePool(t, { workers: 1 });
  const { error } = await collect(
    pool.search(noAbort(), { query: find("x".repeat(29), 0), budget: 0, client: "c" }),
  );
  assert.ok(error instanceof ConnectError);
  assert.equal(error.code, Code.Internal);
  assert.ok(error.cause instanceof RangeError);
  const { hits } = await collect(pool.search(noAbort(), { query: find("a", 0), budget: 0, client: "c" }));
  assert.deepEqual(hits, [{ index: 0, distance: 0 }]);
});

test("workers lost in a streak of crashes are replaced once a slice finishes again", {
  timeout: 60_000,
}, async (t) => {
  const pool = usePool(t, { workers: 2, workerUrl: crashingWorker });
  // Five deaths in a row, no slice finishing in between: the fifth worker is not replaced at once. (A budget of
  // 10 candidates is one slice, so each search kills one worker.)
  for (let i = 0; i < 5; i++) {
    const { error } = await collect(
      pool.search(noAbort(), { query: find("crash", 0), budget: 10, client: "c" }),
    );
    assert.equal(ConnectError.from(error).code, Code.Internal);
    await pool.whenIdle();
  }
  assert.equal(pool.stats().workers, 1);
  // The one left finishes a slice: the pool works, and the lost worker comes back.
  const { hits } = await collect(pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" }));
  assert.deepEqual(hits, [{ index: 101, distance: 0 }]);
  assert.equal(pool.stats().workers, 2);
});

test("a pool whose workers all died: searches are refused, and health says NOT_SERVING so that probes restart it", {
  timeout: 60_000,
}, async (t) => {
  const s = await startTestServer({ workers: 1 }, { workerUrl: crashingWorker });
  t.after(() => s.close());
  const health = createClient(Health, s.grpc());
  assert.equal((await health.check({ service: "hash_name.HashFinder" })).status, ServingStatus.SERVING);
  // MAX_CRASH_STREAK deaths in a row with no slice finished: the last worker is not replaced.
  for (let i = 0; i < 5; i++) {
    assert.equal((await errorOf(s.hashFinder().find({ desiredName: "crash" }))).code, Code.Internal);
  }
  assert.equal(s.server.pool.stats().workers, 0);
  for (const service of ["", "hash_name.HashFinder"]) {
    assert.equal((await health.check({ service })).status, ServingStatus.NOT_SERVING, `"${service}"`);
  }
  assert.equal((await errorOf(s.hashFinder().find({ desiredName: "aa" }))).code, Code.Internal);
  const line = await s.log.waitFor((e) => e.event === "pool" && e.phase === "broken");
  assert.equal(line.level, "error");
  assert.match(String(line.error), /exited with code 70/);
});

/** One search that kills the worker running its only slice (a budget of 10 candidates is one slice). */
async function crashOnce(pool: ReturnType<typeof usePool>): Promise<void> {
  const { error } = await collect(
    pool.search(noAbort(), { query: find("crash", 0), budget: 10, client: "c" }),
  );
  assert.equal(ConnectError.from(error).code, Code.Internal);
  await pool.whenIdle();
}

// The streak counts deaths in a row: a slice finishing in between starts it again, so a pool that crashes now
// and then over a long life keeps replacing its workers.
test("crashes with slices finishing in between are not a streak: every worker is replaced", {
  timeout: 60_000,
}, async (t) => {
  const pool = usePool(t, { workers: 2, workerUrl: crashingWorker });
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 3; i++) await crashOnce(pool);
    const { hits } = await collect(pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" }));
    assert.deepEqual(hits, [{ index: 101, distance: 0 }]);
    assert.equal(pool.stats().workers, 2, `round ${round}`);
  }
});

// With no worker left nothing can run: searches still waiting fail at once instead of waiting for ever, and
// later ones are refused.
test("when the last worker is lost, the searches left fail with INTERNAL and new ones are refused", {
  timeout: 30_000,
}, async (t) => {
  const pool = usePool(t, { workers: 1, maxRunning: 1, workerUrl: crashingWorker });
  for (let i = 0; i < 4; i++) await crashOnce(pool);
  assert.equal(pool.stats().workers, 1);
  const last = pool.search(noAbort(), { query: find("crash", 0), budget: 10, client: "c" });
  const waiting = pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" });
  assert.equal(pool.stats().queued, 1);
  const [lastEnd, waitingEnd] = await Promise.all([collect(last), collect(waiting)]);
  assert.equal(ConnectError.from(lastEnd.error).code, Code.Internal);
  assert.equal(ConnectError.from(waitingEnd.error).code, Code.Internal);
  assert.deepEqual(waitingEnd.hits, []);
  assert.equal(pool.stats().workers, 0);
  assert.throws(
    () => pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" }),
    (error) => ConnectError.from(error).code === Code.Internal,
  );
});
