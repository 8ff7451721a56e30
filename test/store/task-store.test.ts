/** The TaskStore contract, run against every store kind (SQLite and memory). */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { StoredTask, TaskStore } from "../../src/store/task-store.ts";
import { collect, FAR_DUE, never, storeKinds } from "./helpers.ts";

function isCode(code: Code, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ConnectError, `expected a ConnectError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  };
}

async function addMany(store: TaskStore, userId: bigint, count: number): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (let n = 0; n < count; n++) ids.push(await store.addTask(never, userId, `task ${n}`, FAR_DUE));
  return ids;
}

for (const kind of storeKinds) {
  describe(`${kind.name} store`, () => {
    async function setup() {
      const store = await kind.open();
      const alice = (await store.createUser(never, "alice")).userId;
      const bob = (await store.createUser(never, "bob")).userId;
      return { store, alice, bob };
    }

    test("ids ascend and are never reused, even after the highest is deleted", async () => {
      const { store, alice, bob } = await setup();
      const first = await addMany(store, alice, 3);
      assert.deepEqual(
        first,
        [...first].sort((a, b) => (a < b ? -1 : 1)),
      );
      assert.equal(new Set(first).size, 3);
      const highest = first.at(-1)!;
      await store.deleteTask(never, alice, highest);
      const next = await store.addTask(never, bob, "after delete", FAR_DUE);
      assert.ok(next > highest, `new id ${next} must be above deleted ${highest}`);
      await store.close();
    });

    test("concurrent adds get distinct ascending ids and all are stored", async () => {
      const { store, alice } = await setup();
      const ids = await Promise.all(
        Array.from({ length: 64 }, (_, n) => store.addTask(never, alice, `c${n}`, FAR_DUE)),
      );
      assert.equal(new Set(ids).size, 64);
      const listed = await collect(store.listTasks(never, alice));
      assert.deepEqual(
        listed.map((t) => t.id),
        [...ids].sort((a, b) => (a < b ? -1 : 1)),
      );
      // Promise.all keeps call order, and the group commit inserts in call order.
      assert.deepEqual(
        listed.map((t) => t.description),
        ids.map((_, n) => `c${n}`),
      );
      await store.close();
    });

    test("listTasks returns only the caller's tasks, in id order, across page boundaries", async () => {
      const { store, alice, bob } = await setup();
      const mine: bigint[] = [];
      for (let n = 0; n < 10; n++) {
        mine.push(await store.addTask(never, alice, `a${n}`, FAR_DUE));
        await store.addTask(never, bob, `b${n}`, FAR_DUE); // interleaved ids
      }
      const pages: number[] = [];
      const listed = await collect(
        store.listTasks(never, alice, { pageSize: 3, onPageRead: (n) => pages.push(n) }),
      );
      assert.deepEqual(
        listed.map((t) => t.id),
        mine,
      );
      assert.ok(listed.every((t) => t.description.startsWith("a")));
      assert.deepEqual(pages, [3, 3, 3, 1]);

      // Exactly a multiple of the page size: one final empty page ends the listing.
      const exactPages: number[] = [];
      const nine = await collect(
        store.listTasks(never, alice, { pageSize: 5, onPageRead: (n) => exactPages.push(n) }),
      );
      assert.equal(nine.length, 10);
      assert.deepEqual(exactPages, [5, 5, 0]);
      await store.close();
    });

    test("listTasks of a user without tasks ends after one empty page", async () => {
      const { store, alice } = await setup();
      const pages: number[] = [];
      assert.deepEqual(
        await collect(store.listTasks(never, alice, { onPageRead: (n) => pages.push(n) })),
        [],
      );
      assert.deepEqual(pages, [0]);
      await store.close();
    });

    test("listTasks is lazy and pulls: nothing is read before the first pull, one page per exhausted page", async () => {
      const { store, alice } = await setup();
      await addMany(store, alice, 5);
      let pagesRead = 0;
      const iterator = store
        .listTasks(never, alice, { pageSize: 2, onPageRead: () => pagesRead++ })
        [Symbol.asyncIterator]();
      // Give the event loop turns: a producer running ahead would read now.
      for (let n = 0; n < 5; n++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(pagesRead, 0, "creating the iterator must read nothing");
      await iterator.next();
      await iterator.next();
      for (let n = 0; n < 5; n++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(pagesRead, 1, "the second page is read only when the reader asks for its first row");
      await iterator.next();
      assert.equal(pagesRead, 2);
      await iterator.return?.();
      await store.close();
    });

    test("listTasks stops on abort mid-page: throws the reason, reads no further page", async () => {
      const { store, alice } = await setup();
      await addMany(store, alice, 10);
      const controller = new AbortController();
      let pagesRead = 0;
      const iterator = store
        .listTasks(controller.signal, alice, { pageSize: 4, onPageRead: () => pagesRead++ })
        [Symbol.asyncIterator]();
      assert.equal((await iterator.next()).done, false);
      const reason = new Error("client went away");
      controller.abort(reason);
      await assert.rejects(iterator.next(), (error) => error === reason);
      assert.equal((await iterator.next()).done, true, "a failed iterator stays finished");
      assert.equal(pagesRead, 1);
      await store.close();
    });

    test("listTasks stops on abort at a page boundary: the next page is never read", async () => {
      const { store, alice } = await setup();
      await addMany(store, alice, 10);
      const controller = new AbortController();
      let pagesRead = 0;
      const iterator = store
        .listTasks(controller.signal, alice, { pageSize: 2, onPageRead: () => pagesRead++ })
        [Symbol.asyncIterator]();
      await iterator.next();
      await iterator.next(); // last row of page 1
      controller.abort(new Error("deadline"));
      await assert.rejects(iterator.next(), /deadline/);
      assert.equal(pagesRead, 1);
      await store.close();
    });

    // A reader that never waits on I/O (the server's, while the client's window is open) only yields to
    // microtasks: without a turn of the event loop between pages, an abort from the network or a timer could not
    // land until the whole listing had been read.
    test("listTasks gives the event loop a turn between pages: an abort from a timer or I/O lands", async () => {
      const { store, alice } = await setup();
      await addMany(store, alice, 10);
      const controller = new AbortController();
      let pagesRead = 0;
      setImmediate(() => controller.abort(new Error("from the network")));
      await assert.rejects(
        collect(store.listTasks(controller.signal, alice, { pageSize: 2, onPageRead: () => pagesRead++ })),
        /from the network/,
      );
      assert.equal(pagesRead, 1);
      await store.close();
    });

    test("listTasks with an already aborted signal reads nothing", async () => {
      const { store, alice } = await setup();
      await addMany(store, alice, 3);
      let pagesRead = 0;
      const aborted = AbortSignal.abort(new Error("too late"));
      await assert.rejects(
        collect(store.listTasks(aborted, alice, { onPageRead: () => pagesRead++ })),
        /too late/,
      );
      assert.equal(pagesRead, 0);
      await store.close();
    });

    test("due dates round-trip exactly: nanos 999999999, seconds beyond 2038 and up to year 9999", async () => {
      const { store, alice } = await setup();
      const dues = [
        { seconds: 2_147_483_648n, nanos: 999_999_999 }, // 2038-01-19T03:14:08Z, one past int32
        { seconds: 253_402_300_799n, nanos: 999_999_999 }, // 9999-12-31T23:59:59.999999999Z
        { seconds: 4_102_444_800n, nanos: 1 },
        { seconds: 9_007_199_254_740_993n, nanos: 123_456_789 }, // beyond 2^53: no float anywhere
      ];
      const ids: bigint[] = [];
      for (const due of dues) ids.push(await store.addTask(never, alice, "due", due));
      const listed = await collect(store.listTasks(never, alice));
      assert.deepEqual(
        listed.map((t) => t.due),
        dues,
      );
      const updatedDue = { seconds: 3_000_000_000n, nanos: 999_999_999 };
      await store.updateTasks(never, alice, [{ id: ids[0]!, due: updatedDue }]);
      const [first] = await collect(store.listTasks(never, alice));
      assert.deepEqual(first?.due, updatedDue);
      await store.close();
    });

    test("updateTasks changes only the fields each update sets, in order", async () => {
      const { store, alice } = await setup();
      const [a, b] = await addMany(store, alice, 2);
      const due = { seconds: 5_000_000_000n, nanos: 42 };
      await store.updateTasks(never, alice, [
        { id: a!, done: true },
        { id: b!, description: "renamed" },
        { id: b!, due },
        { id: a!, done: false, description: "a again" },
      ]);
      const listed = await collect(store.listTasks(never, alice));
      assert.deepEqual(listed, [
        { id: a!, description: "a again", done: false, due: FAR_DUE },
        { id: b!, description: "renamed", done: false, due },
      ] satisfies StoredTask[]);
      await store.close();
    });

    test("updateTasks is all or nothing: one unknown id rejects with NOT_FOUND naming it and changes nothing", async () => {
      const { store, alice } = await setup();
      const [a, b] = await addMany(store, alice, 2);
      const before = await collect(store.listTasks(never, alice));
      await assert.rejects(
        store.updateTasks(never, alice, [
          { id: a!, done: true, description: "changed" },
          { id: 999_999n, done: true },
          { id: b!, done: true },
        ]),
        isCode(Code.NotFound, /999999/),
      );
      assert.deepEqual(await collect(store.listTasks(never, alice)), before);
      await store.close();
    });

    test("another user's task behaves exactly like an unknown one", async () => {
      const { store, alice, bob } = await setup();
      const [bobs] = await addMany(store, bob, 1);
      const [alices] = await addMany(store, alice, 1);
      await assert.rejects(store.checkTask(never, alice, bobs!), isCode(Code.NotFound));
      await assert.rejects(
        store.updateTasks(never, alice, [
          { id: alices!, done: true },
          { id: bobs!, done: true },
        ]),
        isCode(Code.NotFound),
      );
      await assert.rejects(store.deleteTask(never, alice, bobs!), isCode(Code.NotFound));
      // Nothing of alice's failed batch was applied, and bob's task is untouched.
      assert.equal((await collect(store.listTasks(never, alice)))[0]?.done, false);
      assert.deepEqual(await collect(store.listTasks(never, bob)), [
        { id: bobs, description: "task 0", done: false, due: FAR_DUE },
      ]);
      await store.checkTask(never, bob, bobs!);
      await store.close();
    });

    test("deleteTask removes the task; unknown or already deleted ids reject with NOT_FOUND", async () => {
      const { store, alice } = await setup();
      const [a, b] = await addMany(store, alice, 2);
      await store.deleteTask(never, alice, a!);
      await assert.rejects(store.deleteTask(never, alice, a!), isCode(Code.NotFound));
      await assert.rejects(store.deleteTask(never, alice, 123_456n), isCode(Code.NotFound));
      await assert.rejects(store.checkTask(never, alice, a!), isCode(Code.NotFound));
      assert.deepEqual(
        (await collect(store.listTasks(never, alice))).map((t) => t.id),
        [b],
      );
      await store.close();
    });

    test("a failed delete in a burst of concurrent writes does not affect the others", async () => {
      const { store, alice } = await setup();
      const [a] = await addMany(store, alice, 1);
      const results = await Promise.allSettled([
        store.addTask(never, alice, "x", FAR_DUE),
        store.deleteTask(never, alice, 777_777n),
        store.addTask(never, alice, "y", FAR_DUE),
        store.deleteTask(never, alice, a!),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ["fulfilled", "rejected", "fulfilled", "fulfilled"],
      );
      assert.deepEqual(
        (await collect(store.listTasks(never, alice))).map((t) => t.description),
        ["x", "y"],
      );
      await store.close();
    });

    test("an already aborted signal rejects every write with its reason and writes nothing", async () => {
      const { store, alice } = await setup();
      const [a] = await addMany(store, alice, 1);
      const reason = new Error("cancelled before start");
      const aborted = AbortSignal.abort(reason);
      const same = (error: unknown) => error === reason;
      await assert.rejects(store.addTask(aborted, alice, "no", FAR_DUE), same);
      await assert.rejects(store.updateTasks(aborted, alice, [{ id: a!, done: true }]), same);
      await assert.rejects(store.deleteTask(aborted, alice, a!), same);
      await assert.rejects(store.checkTask(aborted, alice, a!), same);
      await assert.rejects(store.createUser(aborted, "carol"), same);
      assert.deepEqual(await collect(store.listTasks(never, alice)), [
        { id: a, description: "task 0", done: false, due: FAR_DUE },
      ]);
      assert.equal(await store.countUsers(never), 2);
      await store.close();
    });

    test("finished calls leave no listener on a long-lived signal", async () => {
      const { store, alice } = await setup();
      const longLived = new AbortController().signal;
      for (let n = 0; n < 20; n++) {
        const id = await store.addTask(longLived, alice, `t${n}`, FAR_DUE);
        await store.updateTasks(longLived, alice, [{ id, done: true }]);
        await store.checkTask(longLived, alice, id);
        await store.deleteTask(longLived, alice, id);
        await assert.rejects(store.deleteTask(longLived, alice, id));
      }
      await collect(store.listTasks(longLived, alice, { pageSize: 1 }));
      await store.userForToken(longLived, "nope");
      assert.equal(getEventListeners(longLived, "abort").length, 0);
      await store.close();
    });

    test("tokens: userForToken finds the owner, unknown tokens are undefined, names are unique", async () => {
      const store = await kind.open();
      assert.equal(await store.countUsers(never), 0);
      const alice = await store.createUser(never, "alice");
      const bob = await store.createUser(never, "bob");
      assert.notEqual(alice.token, bob.token);
      assert.ok(alice.token.length >= 43, "at least 32 random bytes");
      assert.equal(await store.userForToken(never, alice.token), alice.userId);
      assert.equal(await store.userForToken(never, bob.token), bob.userId);
      assert.equal(await store.userForToken(never, `${alice.token}x`), undefined);
      assert.equal(await store.userForToken(never, ""), undefined);
      await assert.rejects(store.createUser(never, "alice"), isCode(Code.AlreadyExists, /alice/));
      assert.equal(await store.countUsers(never), 2);
      await store.close();
    });

    test("issueToken: creates the user if there is none, else adds a token beside the ones it has", async () => {
      const store = await kind.open();
      const first = await store.issueToken(never, "local");
      assert.equal(first.createdUser, true);
      const second = await store.issueToken(never, "local");
      assert.deepEqual([second.createdUser, second.userId], [false, first.userId]);
      assert.notEqual(second.token, first.token);
      assert.equal(await store.userForToken(never, first.token), first.userId, "earlier tokens stay valid");
      assert.equal(await store.userForToken(never, second.token), first.userId);
      assert.equal(await store.countUsers(never), 1);
      const reason = new Error("cancelled before start");
      await assert.rejects(store.issueToken(AbortSignal.abort(reason), "other"), (e) => e === reason);
      assert.equal(await store.countUsers(never), 1, "an aborted issue creates nothing");
      await store.close();
    });

    test("a closed store rejects calls", async () => {
      const { store, alice } = await setup();
      await store.close();
      await store.close(); // idempotent
      await assert.rejects(store.addTask(never, alice, "late", FAR_DUE), /closed/);
      await assert.rejects(collect(store.listTasks(never, alice)), /closed/);
    });
  });
}
