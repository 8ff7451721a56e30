import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { untilAborted } from "../../src/services/abortable-stream.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** A stream of `count` messages that arrive one at a time, as a client's would. */
async function* messages(count: number): AsyncGenerator<number> {
  for (let i = 0; i < count; i++) {
    await Promise.resolve();
    yield i;
  }
}

function heapUsedAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test("a long stream keeps no memory per message while it lasts", async () => {
  const controller = new AbortController();
  const count = 200_000;
  const stream = untilAborted(controller.signal, messages(count));
  let seen = 0;
  let before = 0;
  for await (const message of stream) {
    if (message === 1_000) before = heapUsedAfterGc();
    seen++;
    if (message === count - 1_000) {
      // Measured while the stream is still open: what a DeleteTasks call of a million ids would hold.
      const grownBytes = heapUsedAfterGc() - before;
      assert.ok(
        grownBytes < 8 * 1024 * 1024,
        `heap grew ${(grownBytes / 1e6).toFixed(1)} MB over ${count - 2_000} messages`,
      );
    }
  }
  assert.equal(seen, count);
});

test("a pending wait rejects with the signal's reason at once, and the source is closed", async () => {
  const controller = new AbortController();
  let closed = false;
  const never: AsyncIterable<number> = {
    [Symbol.asyncIterator]: () => ({
      next: () => new Promise<IteratorResult<number>>(() => {}),
      return: async () => {
        closed = true;
        return { done: true, value: undefined };
      },
    }),
  };
  const reason = new Error("stop");
  const pending = untilAborted(controller.signal, never).next();
  setTimeout(() => controller.abort(reason), 5);
  await assert.rejects(pending, (error) => error === reason);
  assert.equal(closed, true);
});

test("an abort between messages ends the stream at the next one", async () => {
  const controller = new AbortController();
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const message of untilAborted(controller.signal, messages(10))) {
      seen.push(message);
      if (message === 2) controller.abort(new Error("cancelled"));
    }
  }, /cancelled/);
  assert.deepEqual(seen, [0, 1, 2]);
});

// The contract says the abort listener goes when iteration ends, whichever way: a signal that outlives the
// stream (the shutdown signal, a CLI's Ctrl-C controller) must not collect one listener per stream.
test("no listener is left on the signal once the stream ends: done, broken out of, or failed", async () => {
  const controller = new AbortController();
  const listeners = () => getEventListeners(controller.signal, "abort").length;
  for await (const _ of untilAborted(controller.signal, messages(3))) {
    assert.equal(listeners(), 1, "one listener while the stream is read");
  }
  assert.equal(listeners(), 0, "after the source ended");
  for await (const message of untilAborted(controller.signal, messages(3))) if (message === 1) break;
  assert.equal(listeners(), 0, "after the reader broke out");
  async function* failing(): AsyncGenerator<number> {
    yield 0;
    throw new Error("source failed");
  }
  await assert.rejects(async () => {
    for await (const _ of untilAborted(controller.signal, failing()));
  }, /source failed/);
  assert.equal(listeners(), 0, "after the source failed");
});
