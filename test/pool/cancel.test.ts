import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { cpus } from "node:os";
import { describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { monotonicMs } from "../../src/pool/clock.ts";
import { collect, DOCTOR_RANGE, ENDLESS_SLICE, find, NEVER, noAbort, usePool } from "./helpers.ts";

describe("cancellation", () => {
  test("abort while running: the iterator throws the reason, in-flight slices stop, workers stay", {
    timeout: 30_000,
  }, async (t) => {
    const pool = usePool(t, { workers: 2, sliceSize: ENDLESS_SLICE });
    const controller = new AbortController();
    const run = pool.search(controller.signal, { query: NEVER, budget: 0, client: "c" });
    const reading = collect(run);
    await pool.whenExecuting(noAbort());
    assert.equal(pool.stats().busyWorkers, 2, "an idle server puts every worker on the one search");

    const reason = new Error("client went away");
    const abortedAt = monotonicMs();
    controller.abort(reason);
    const { hits, error } = await reading;
    assert.equal(error, reason);
    assert.deepEqual(hits, []);
    // A slice of 2^40 candidates ends only because its stop flag was raised.
    await pool.whenIdle();
    // The workers' own clock of their leaving the kernel (the machine's monotonic clock, as here): after the
    // abort, and already past.
    const left = run.lastLeftKernelAt;
    assert.ok(left !== undefined && left >= abortedAt, `left the kernel at ${left}, aborted at ${abortedAt}`);
    assert.ok(left <= monotonicMs());
    assert.equal(pool.executing(), 0);
    assert.deepEqual(
      { busy: pool.stats().busyWorkers, running: pool.stats().running, workers: pool.stats().workers },
      { busy: 0, running: 0, workers: 2 },
    );

    // The same threads keep serving, and the freed stop slot is reused cleanly.
    const next = await collect(pool.search(noAbort(), { query: find("aa", 0), budget: 0, client: "c" }));
    assert.deepEqual(next, { hits: [{ index: 101, distance: 0 }], error: undefined });
  });

  test("workers pause while more threads want a CPU than there are CPUs, and never with 0", {
    timeout: 30_000,
  }, async (t) => {
    // One worker more than the machine has CPUs keeps a thread waiting for a core all along, so workers that
    // ask every 0.2 ms pause many times (where the run queue cannot be read they pause every 0.5 ms anyway).
    const workers = cpus().length + 1;
    for (const [yieldEveryMs, expectPauses] of [
      [0.2, true],
      [0, false],
    ] as const) {
      const pool = usePool(t, { workers, sliceSize: 400_000, yieldEveryMs });
      const scanned = await collect(pool.search(noAbort(), { query: NEVER, budget: 4_000_000, client: "c" }));
      assert.ok(scanned.error instanceof ConnectError, "the budget ends the search");
      await pool.whenIdle();
      const { pauses } = pool.stats();
      if (expectPauses) assert.ok(pauses >= 10, `yieldEveryMs ${yieldEveryMs}: only ${pauses} pauses`);
      else assert.equal(pauses, 0);
    }
  });

  test("abort while queued: removed, rejected with the reason, never started", {
    timeout: 30_000,
  }, async (t) => {
    const pool = usePool(t, { workers: 1, maxRunning: 1, sliceSize: ENDLESS_SLICE });
    const longController = new AbortController();
    const long = pool.search(longController.signal, { query: NEVER, budget: 0, client: "c" });
    const longReading = collect(long);
    const controller = new AbortController();
    const queued = pool.search(controller.signal, { query: find("aa", 0), budget: 0, client: "c" });
    assert.deepEqual([pool.stats().running, pool.stats().queued], [1, 1]);

    const reason = new Error("deadline");
    controller.abort(reason);
    assert.deepEqual(await collect(queued), { hits: [], error: reason });
    assert.equal(pool.stats().queued, 0);

    // Even once the running place frees up, the cancelled search never gets a slice.
    const started = pool.stats().slicesStarted;
    longController.abort(new Error("stop"));
    await longReading;
    await pool.whenIdle();
    assert.equal(queued.slicesStarted, 0);
    assert.equal(queued.scanned, 0);
    assert.equal(pool.stats().slicesStarted, started);
  });

  test("an already aborted signal throws its reason at once and starts nothing", async (t) => {
    const pool = usePool(t);
    const controller = new AbortController();
    const reason = new Error("already gone");
    controller.abort(reason);
    assert.throws(
      () => pool.search(controller.signal, { query: find("aa", 0), budget: 0, client: "c" }),
      (error) => error === reason,
    );
    assert.deepEqual(pool.stats(), {
      workers: 2,
      busyWorkers: 0,
      running: 0,
      queued: 0,
      waitingForReader: 0,
      slicesStarted: 0,
      pauses: 0,
      stopWaits: { waits: 0, timedOut: 0, skipped: 0, moved: 0, leftRunning: 0 },
      scavenges: 0,
    });
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  });

  test("return() from the consumer stops the search", { timeout: 30_000 }, async (t) => {
    const pool = usePool(t, { workers: 2, sliceSize: ENDLESS_SLICE });
    const run = pool.search(noAbort(), { query: NEVER, budget: 0, client: "c" });
    const iterator = run[Symbol.asyncIterator]();
    const pending = iterator.next();
    await pool.whenExecuting(noAbort());
    await iterator.return?.();
    assert.deepEqual(await pending, { done: true, value: undefined });
    await pool.whenIdle();
    assert.deepEqual([pool.stats().running, pool.stats().busyWorkers], [0, 0]);
  });

  test("breaking out of for-await stops a streaming search", { timeout: 30_000 }, async (t) => {
    const pool = usePool(t, { workers: 2 });
    const run = pool.search(noAbort(), { query: { ...DOCTOR_RANGE, ideal: -1 }, budget: 0, client: "c" });
    let seen = 0;
    for await (const _hit of run) if (++seen === 3) break;
    assert.equal(pool.stats().running, 0);
    await pool.whenIdle();
    assert.equal(pool.stats().busyWorkers, 0);
  });

  test("no listener is left on a long-lived signal after many searches, however they ended", {
    timeout: 60_000,
  }, async (t) => {
    const pool = usePool(t, { workers: 2, maxRunning: 2, maxQueued: 4, maxPerClient: 0 });
    const shutdown = new AbortController().signal;
    const listeners = () => getEventListeners(shutdown, "abort").length;

    // Completed.
    for (let i = 0; i < 5; i++)
      await collect(pool.search(shutdown, { query: find("grpc", 1), budget: 0, client: "c" }));
    // Budget exhausted.
    await collect(pool.search(shutdown, { query: find("aa", 0), budget: 50, client: "c" }));
    // Stopped early by the consumer.
    for await (const _hit of pool.search(shutdown, { query: DOCTOR_RANGE, budget: 0, client: "c" })) break;
    // Running searches listen while they live, then stop listening.
    const a = pool.search(shutdown, { query: NEVER, budget: 0, client: "c" });
    const b = pool.search(shutdown, { query: NEVER, budget: 0, client: "c" });
    assert.equal(listeners(), 2, "running searches do listen while they live");
    // Aborted while queued (behind a and b).
    const perCall = new AbortController();
    const queued = pool.search(perCall.signal, { query: NEVER, budget: 0, client: "c" });
    assert.equal(pool.stats().queued, 1);
    perCall.abort(new Error("cancelled"));
    await collect(queued);
    assert.equal(getEventListeners(perCall.signal, "abort").length, 0);
    // Stopped by the consumer before any hit.
    await a[Symbol.asyncIterator]().return?.();
    await b[Symbol.asyncIterator]().return?.();
    // Failed inside the worker (target longer than the hash: the kernel throws).
    const failed = await collect(
      pool.search(shutdown, { query: find("x".repeat(40), 0), budget: 0, client: "c" }),
    );
    assert.ok(failed.error instanceof ConnectError);
    assert.equal(failed.error.code, Code.Internal);

    await pool.whenIdle();
    assert.equal(listeners(), 0);
  });
});
