import assert from "node:assert/strict";
import { test } from "node:test";
import type { Hit } from "../../src/pool/pool.ts";
import { searchPlain } from "../../src/search/reference.ts";
import { waitUntil } from "../helpers/wait.ts";
import { collect, DOCTOR_RANGE, find, NEVER, noAbort, usePool } from "./helpers.ts";

test("a consumer that does not read pauses its search; memory stays bounded; reading resumes it", {
  timeout: 60_000,
}, async (t) => {
  const workers = 2;
  const slicesPerWorker = 2;
  const sliceSize = 512;
  const maxBufferedHits = 16;
  const pool = usePool(t, { workers, slicesPerWorker, sliceSize, maxBufferedHits });
  const expected = searchPlain("doctor", 1, 3, 0, Number.MAX_SAFE_INTEGER);
  // The most hits one slice can add after the pause decision: those of the slices in flight then.
  let mostHitsInASlice = 0;
  for (let start = 0; start < 57873; start += sliceSize) {
    const inSlice = expected.filter((hit) => hit.index >= start && hit.index < start + sliceSize).length;
    mostHitsInASlice = Math.max(mostHitsInASlice, inSlice);
  }

  const run = pool.search(noAbort(), { query: DOCTOR_RANGE, budget: 0, client: "slow" });
  // Nobody reads: once the buffer is full no slice is dispatched, the in-flight ones finish, the pool idles.
  await pool.whenIdle();
  const buffered = run.buffered;
  const started = run.slicesStarted;
  assert.ok(buffered >= maxBufferedHits, `paused because the buffer is full (${buffered})`);
  assert.ok(
    buffered <= maxBufferedHits + workers * slicesPerWorker * mostHitsInASlice,
    `buffered ${buffered} hits, bound ${maxBufferedHits} + in-flight slices`,
  );
  assert.ok(started * sliceSize < 57873, "paused long before the end of the search");
  // Parked: it holds no running place while it waits for its reader.
  assert.deepEqual([pool.stats().running, pool.stats().waitingForReader], [0, 1]);

  // The pool keeps scheduling (a whole other search runs) without giving the paused search a slice.
  const other = await collect(pool.search(noAbort(), { query: find("doc", 0), budget: 0, client: "other" }));
  assert.deepEqual(other.hits, [{ index: 448, distance: 0 }]);
  assert.equal(run.slicesStarted, started);
  assert.equal(run.buffered, buffered);

  // Reading resumes it, and the answer is complete and in order.
  const { hits, error } = await collect(run);
  assert.equal(error, undefined);
  assert.deepEqual(hits, expected);
});

test("searches whose consumers do not read give up their places: another client's search runs", {
  timeout: 60_000,
}, async (t) => {
  const pool = usePool(t, { workers: 2, maxRunning: 2, maxBufferedHits: 16, sliceSize: 512 });
  const expected = searchPlain("doctor", 1, 3, 0, Number.MAX_SAFE_INTEGER);
  // Two streams nobody reads fill every running place, then wait for their readers.
  const unread = [0, 1].map(() => pool.search(noAbort(), { query: DOCTOR_RANGE, budget: 0, client: "slow" }));
  await pool.whenIdle();
  assert.deepEqual([pool.stats().running, pool.stats().waitingForReader], [0, 2]);

  // Before, they kept both places for as long as nobody read, and this search waited in the queue for ever.
  const other = await collect(pool.search(noAbort(), { query: find("doc", 0), budget: 0, client: "other" }));
  assert.deepEqual(other.hits, [{ index: 448, distance: 0 }]);

  // Reading again resumes each of them from where it stopped: complete answers, in order.
  for (const run of unread) {
    const { hits, error } = await collect(run);
    assert.equal(error, undefined);
    assert.deepEqual(hits, expected);
  }
  assert.deepEqual([pool.stats().running, pool.stats().waitingForReader], [0, 0]);
});

test("a search cancelled while it waits for its reader ends at once and leaves nothing behind", {
  timeout: 60_000,
}, async (t) => {
  const pool = usePool(t, { workers: 1, maxRunning: 1, maxBufferedHits: 16, sliceSize: 512 });
  const controller = new AbortController();
  const run = pool.search(controller.signal, { query: DOCTOR_RANGE, budget: 0, client: "slow" });
  await pool.whenIdle();
  assert.equal(pool.stats().waitingForReader, 1);
  const reason = new Error("gone");
  controller.abort(reason);
  const { error } = await collect(run);
  assert.equal(error, reason);
  assert.deepEqual([pool.stats().running, pool.stats().queued, pool.stats().waitingForReader], [0, 0, 0]);
  // Its place and slot are free: the next search runs.
  const next = await collect(pool.search(noAbort(), { query: find("doc", 0), budget: 0, client: "c" }));
  assert.deepEqual(next.hits, [{ index: 448, distance: 0 }]);
});

// Parking gives the place up at once: a search already queued behind the unread one takes it then, not only when
// some other search happens to end.
test("a search queued behind one whose consumer stops reading runs as soon as that one parks", {
  timeout: 30_000,
}, async (t) => {
  const pool = usePool(t, { workers: 1, maxRunning: 1, maxBufferedHits: 16, sliceSize: 512 });
  const unread = pool.search(noAbort(), { query: DOCTOR_RANGE, budget: 0, client: "slow" });
  const queued = pool.search(noAbort(), { query: find("doc", 0), budget: 0, client: "other" });
  assert.equal(pool.stats().queued, 1, "no place for it while the first search runs");
  const { hits, error } = await collect(queued);
  assert.equal(error, undefined);
  assert.deepEqual(hits, [{ index: 448, distance: 0 }]);
  assert.equal(pool.stats().waitingForReader, 1);
  assert.deepEqual((await collect(unread)).hits, searchPlain("doctor", 1, 3, 0, Number.MAX_SAFE_INTEGER));
});

// A parked search was admitted before anything now queued: when its reader comes back it goes to the head of the
// queue, and takes the next free place before searches that arrived while it waited.
test("a parked search whose reader comes back takes the next free place before later arrivals", {
  timeout: 60_000,
}, async (t) => {
  const pool = usePool(t, { workers: 1, maxRunning: 1, maxBufferedHits: 16, sliceSize: 512 });
  const parked = pool.search(noAbort(), { query: DOCTOR_RANGE, budget: 0, client: "slow" });
  await pool.whenIdle();
  assert.equal(pool.stats().waitingForReader, 1);
  const holder = new AbortController();
  const holding = pool.search(holder.signal, { query: NEVER, budget: 0, client: "holder" });
  const later = new AbortController();
  const arrivedLater = pool.search(later.signal, { query: NEVER, budget: 0, client: "later" });
  assert.deepEqual([pool.stats().running, pool.stats().queued], [1, 1]);
  // Read the parked search's buffer until it is back in the queue (it asks for no place before that).
  const reader = parked[Symbol.asyncIterator]();
  const hits: Hit[] = [];
  while (pool.stats().waitingForReader === 1) {
    const next = await reader.next();
    if (next.done) assert.fail("the search ended while parked");
    hits.push(next.value);
  }
  assert.equal(pool.stats().queued, 2);
  const startedBefore = parked.slicesStarted;
  holder.abort(new Error("done"));
  // Had the later search, which never ends, been given the place first, the parked one would never run again.
  // (Once running, the parked one may fill its buffer and park again, and the later one then runs: no check of
  // the later one's slices here, they may have started by the time this sees the parked one's.)
  await waitUntil("the parked search runs again", () => parked.slicesStarted > startedBefore);
  later.abort(new Error("done"));
  for (;;) {
    const next = await reader.next();
    if (next.done) break;
    hits.push(next.value);
  }
  assert.deepEqual(hits, searchPlain("doctor", 1, 3, 0, Number.MAX_SAFE_INTEGER));
  await Promise.all([collect(holding), collect(arrivedLater)]);
});
