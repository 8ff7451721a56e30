/**
 * TodoService over real sockets against the SQLite store: every rule of issue 4 — validation naming the field,
 * listing with overdue and masks, exact due dates, all-or-nothing UpdateTasks, acknowledged DeleteTasks, users
 * who cannot see each other, authentication — and the cancellation contract with its server-side effect: the
 * store stops being read (rows pulled), nothing is written, and the call's log line names the cause.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as connectHttp2 } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import {
  DeleteTasksRequestSchema,
  TodoService,
  type UpdateTasksRequest,
  UpdateTasksRequestSchema,
} from "../../src/gen/todo/v2/todo_pb.ts";
import { MAX_REQUEST_MESSAGE_BYTES, type ServerDependencies } from "../../src/server/create-server.ts";
import { MAX_UPDATES_PER_STREAM } from "../../src/services/todo-validate.ts";
import { heldBytes, MAX_UPDATE_BYTES_PER_STREAM } from "../../src/services/update-memory.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import type {
  Due,
  IssuedToken,
  ListTasksOptions,
  NewUser,
  StoredTask,
  TaskStore,
  TaskUpdate,
} from "../../src/store/task-store.ts";
import { errorOf } from "../helpers/call-error.ts";
import { defer } from "../helpers/defer.ts";
import { connectDroppable } from "../helpers/raw-h2.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitUntil } from "../helpers/wait.ts";

const FAR = { seconds: 4_102_444_800n, nanos: 0 }; // 2100-01-01
const PAST = { seconds: 1_000_000_000n, nanos: 0 }; // 2001
const never = new AbortController().signal;

/** Messages as the async iterable a client or bidi stream takes. */
async function* from<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

/** Which of `ids` ListTasks still returns, in listing order. */
async function idsStillListed(client: ReturnType<TestServer["todo"]>, ids: bigint[]): Promise<bigint[]> {
  const listed = (await drain(client.listTasks({}))).map((r) => r.task?.id);
  return listed.filter((id): id is bigint => id !== undefined && ids.includes(id));
}

/**
 * A TaskStore that counts what the server asks of the real one: rows pulled from listings, tasks checked,
 * and update/delete calls, so tests can see that the server stopped reading or never wrote.
 */
class ProbedStore implements TaskStore {
  /** Rows pulled by each listing, in the order the listings started (another test's may still be running). */
  readonly pulledPerListing: number[] = [];
  checks = 0;
  updateCalls = 0;
  deletesDone = 0;
  readonly #inner: TaskStore;
  constructor(inner: TaskStore) {
    this.#inner = inner;
  }
  addTask(signal: AbortSignal, userId: bigint, description: string, due: Due): Promise<bigint> {
    return this.#inner.addTask(signal, userId, description, due);
  }
  async *listTasks(signal: AbortSignal, userId: bigint, opts?: ListTasksOptions): AsyncGenerator<StoredTask> {
    const listing = this.pulledPerListing.push(0) - 1;
    for await (const task of this.#inner.listTasks(signal, userId, opts)) {
      this.pulledPerListing[listing] = (this.pulledPerListing[listing] ?? 0) + 1;
      yield task;
    }
  }
  async checkTask(signal: AbortSignal, userId: bigint, id: bigint): Promise<void> {
    this.checks++;
    return this.#inner.checkTask(signal, userId, id);
  }
  updateTasks(signal: AbortSignal, userId: bigint, updates: readonly TaskUpdate[]): Promise<void> {
    this.updateCalls++;
    return this.#inner.updateTasks(signal, userId, updates);
  }
  async deleteTask(signal: AbortSignal, userId: bigint, id: bigint): Promise<void> {
    await this.#inner.deleteTask(signal, userId, id);
    this.deletesDone++;
  }
  createUser(signal: AbortSignal, name: string): Promise<NewUser> {
    return this.#inner.createUser(signal, name);
  }
  issueToken(signal: AbortSignal, name: string): Promise<IssuedToken> {
    return this.#inner.issueToken(signal, name);
  }
  userForToken(signal: AbortSignal, token: string): Promise<bigint | undefined> {
    return this.#inner.userForToken(signal, token);
  }
  countUsers(signal: AbortSignal): Promise<number> {
    return this.#inner.countUsers(signal);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** Starts a test server whose store is a ProbedStore over SQLite in a fresh dir. */
async function probedServer(
  dependencies: Omit<ServerDependencies, "store"> = {},
): Promise<{ s: TestServer; store: ProbedStore }> {
  const dir = await mkdtemp(join(tmpdir(), "cancelkit-todo-store-"));
  after(() => rm(dir, { recursive: true, force: true }));
  const store = new ProbedStore(await openSqliteStore(dir));
  const s = await startTestServer({}, { ...dependencies, store });
  return { s, store };
}

/**
 * A gRPC call on a raw HTTP/2 stream, cancelled the way grpc-go and grpcio cancel: RST_STREAM(CANCEL) while the
 * request side is still open. (Node's Http2Stream.close(), which connect-node and grpc-js clients use, first
 * ends the request side: the server then sees a half-close, and only after it the reset.)
 */
function rawCall(s: TestServer, method: string, headers: Record<string, string> = {}) {
  const session = connectHttp2(`http://${s.address}`);
  session.on("error", () => {});
  const stream = session.request({
    ":method": "POST",
    ":path": `/todo.v2.TodoService/${method}`,
    "content-type": "application/grpc",
    te: "trailers",
    authorization: `Bearer ${s.localToken}`,
    ...headers,
  });
  stream.on("error", () => {});
  // Each answer of DeleteTasks is an empty message: a 5-byte gRPC frame.
  let received = 0;
  const waiters = new Set<() => void>();
  stream.on("data", (chunk: Buffer) => {
    received += chunk.length;
    for (const wake of waiters) wake();
  });
  return {
    /** Resolves once `n` empty answers have arrived. */
    answers(n: number): Promise<void> {
      return new Promise((resolve) => {
        const check = () => {
          if (received < n * 5) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
    send(message: Uint8Array) {
      const header = Buffer.alloc(5);
      header.writeUInt32BE(message.length, 1);
      stream.write(Buffer.concat([header, message]));
    },
    /** RST_STREAM(CANCEL) without END_STREAM; the connection stays up (or the server would see a disconnect). */
    cancel() {
      stream.destroy();
    },
    close() {
      session.close();
    },
  };
}

/** Adds `count` tasks for `userId` straight through the store (fast), all due far in the future. */
async function fill(store: TaskStore, userId: bigint, count: number, description = "filler"): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < count) {
        next++;
        await store.addTask(never, userId, description, FAR);
      }
    }),
  );
}

const LOCAL_USER = 1n; // the user the server creates on first start

describe("AddTask", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  const bad: Array<[string, { description: string; dueDate?: Due & { $typeName?: never } }, string, RegExp]> =
    [
      ["empty description", { description: "", dueDate: FAR }, "description", /must not be empty/],
      ["blank description", { description: "  \t", dueDate: FAR }, "description", /must not be empty/],
      [
        "description over 1000 characters",
        { description: "x".repeat(1001), dueDate: FAR },
        "description",
        /at most 1000/,
      ],
      ["missing due date", { description: "a" }, "due_date", /is required/],
      ["due date in the past", { description: "a", dueDate: PAST }, "due_date", /past/],
      [
        "due nanos out of range",
        { description: "a", dueDate: { seconds: FAR.seconds, nanos: 1_000_000_000 } },
        "due_date",
        /nanos/,
      ],
    ];
  for (const [what, request, field, why] of bad) {
    test(`${what} → INVALID_ARGUMENT naming ${field}; nothing is written`, async () => {
      const error = await errorOf(s.todo().addTask(request));
      assert.equal(error.code, Code.InvalidArgument);
      assert.match(error.rawMessage, new RegExp(`^${field}: `));
      assert.match(error.rawMessage, why);
      assert.deepEqual(await drain(s.todo().listTasks({})), []);
    });
  }

  test("a request message over 4 MiB → RESOURCE_EXHAUSTED naming the limit, logged once; the connection goes on", async () => {
    const client = s.todo(); // one connection for both calls
    const huge = "x".repeat(MAX_REQUEST_MESSAGE_BYTES);
    const logged = s.nextCallLog("todo.v2.TodoService/AddTask");
    const error = await errorOf(client.addTask({ description: huge, dueDate: FAR }));
    assert.equal(error.code, Code.ResourceExhausted);
    assert.match(error.rawMessage, new RegExp(`readMaxBytes ${MAX_REQUEST_MESSAGE_BYTES}`));
    // Connect refuses it before any interceptor runs; the node handler logs it.
    const line = await logged;
    assert.equal(line.outcome, "RESOURCE_EXHAUSTED");
    assert.match(String(line.error), /readMaxBytes/);
    assert.deepEqual(await drain(client.listTasks({})), [], "nothing was written");
    const linesOfThisPeer = s.log.entries.filter((e) => e.event === "call" && e.peer === line.peer);
    assert.deepEqual(
      linesOfThisPeer.map((e) => `${e.method} ${e.outcome}`),
      ["todo.v2.TodoService/AddTask RESOURCE_EXHAUSTED", "todo.v2.TodoService/ListTasks ok"],
      "one line for the refused call",
    );
    // The same connection serves the next call.
    const { id } = await client.addTask({ description: "small", dueDate: FAR });
    assert.ok(id > 0n);
    await drain(client.deleteTasks(from([{ id }])));
  });

  // Over Connect the refusal is an HTTP status (429) shared with UNAVAILABLE, and the code is in the JSON body:
  // the log must say what the client was told, not what the HTTP status maps back to.
  test("the same refusal over Connect (HTTP/1.1) is logged as the RESOURCE_EXHAUSTED the client gets", async () => {
    const client = createClient(TodoService, s.connectHttp1());
    const logged = s.nextCallLog("todo.v2.TodoService/AddTask");
    const error = await errorOf(
      client.addTask(
        { description: "x".repeat(MAX_REQUEST_MESSAGE_BYTES), dueDate: FAR },
        { headers: { authorization: `Bearer ${s.localToken}` } },
      ),
    );
    assert.equal(error.code, Code.ResourceExhausted);
    const line = await logged;
    assert.equal(line.outcome, "RESOURCE_EXHAUSTED");
    assert.match(String(line.error), /readMaxBytes/);
  });

  test("returns ascending ids that are never reused, even after a delete of the highest", async () => {
    const client = s.todo();
    const a = (await client.addTask({ description: "a", dueDate: FAR })).id;
    const b = (await client.addTask({ description: "b", dueDate: FAR })).id;
    assert.ok(b > a);
    await drain(client.deleteTasks(from([{ id: b }])));
    const c = (await client.addTask({ description: "c", dueDate: FAR })).id;
    assert.ok(c > b, `id ${c} reused or lower than ${b}`);
    await drain(client.deleteTasks(from([{ id: a }, { id: c }])));
  });

  test("a 1000-character description (emoji counted once) is accepted and returned as sent", async () => {
    const description = "🙂".repeat(1000);
    const { id } = await s.todo().addTask({ description, dueDate: FAR });
    const [listed] = await drain(s.todo().listTasks({}));
    assert.equal(listed?.task?.description, description);
    await drain(s.todo().deleteTasks(from([{ id }])));
  });
});

describe("ListTasks", () => {
  let s: TestServer;
  let ids: bigint[];
  const soon = { seconds: 4_102_444_800n, nanos: 999_999_999 };
  before(async () => {
    s = await startTestServer();
    const store = s.server.store;
    // The store does not validate: it can hold overdue tasks, which AddTask would refuse to create.
    ids = [
      await store.addTask(never, LOCAL_USER, "future", soon),
      await store.addTask(never, LOCAL_USER, "overdue", PAST),
      await store.addTask(never, LOCAL_USER, "done, past due", PAST),
    ];
    await store.updateTasks(never, LOCAL_USER, [{ id: ids[2] ?? 0n, done: true }]);
  });
  after(() => s.close());

  test("streams the caller's tasks in id order with overdue = due < now && !done; due nanos exact", async () => {
    const listed = await drain(s.todo().listTasks({}));
    assert.deepEqual(
      listed.map((r) => [r.task?.id, r.task?.description, r.task?.done, r.overdue]),
      [
        [ids[0], "future", false, false],
        [ids[1], "overdue", false, true],
        [ids[2], "done, past due", true, false],
      ],
    );
    assert.deepEqual(
      { seconds: listed[0]?.task?.dueDate?.seconds, nanos: listed[0]?.task?.dueDate?.nanos },
      soon,
    );
  });

  test("a mask keeps only its paths (overdue is still computed); an empty mask keeps all", async () => {
    const masked = await drain(s.todo().listTasks({ mask: { paths: ["id", "description"] } }));
    assert.deepEqual(
      masked.map((r) => [r.task?.id, r.task?.description, r.task?.done, r.task?.dueDate, r.overdue]),
      [
        [ids[0], "future", false, undefined, false],
        [ids[1], "overdue", false, undefined, true],
        [ids[2], "done, past due", false, undefined, false],
      ],
    );
    const onlyDue = await drain(s.todo().listTasks({ mask: { paths: ["due_date", "done"] } }));
    assert.deepEqual(
      onlyDue.map((r) => [r.task?.id, r.task?.description, r.task?.done, r.task?.dueDate?.seconds]),
      [
        [0n, "", false, soon.seconds],
        [0n, "", false, PAST.seconds],
        [0n, "", true, PAST.seconds],
      ],
    );
    const all = await drain(s.todo().listTasks({ mask: { paths: [] } }));
    assert.equal(all[2]?.task?.description, "done, past due");
    assert.equal(all[2]?.task?.done, true);
  });

  test("an unknown mask path → INVALID_ARGUMENT naming it", async () => {
    const error = await errorOf(drain(s.todo().listTasks({ mask: { paths: ["id", "owner"] } })));
    assert.equal(error.code, Code.InvalidArgument);
    assert.match(error.rawMessage, /^mask\.paths: unknown path "owner"/);
  });

  test("a 70,000-character mask path → INVALID_ARGUMENT quoting its first 100 characters, not a failed header", async () => {
    const error = await errorOf(drain(s.todo().listTasks({ mask: { paths: ["x".repeat(70_000)] } })));
    assert.equal(error.code, Code.InvalidArgument, error.message);
    assert.match(error.rawMessage, /^mask\.paths: unknown path "x{100}"… \(70000 characters\) \(known: /);
  });

  test("the same service answers Connect over HTTP/1.1 (browser transport)", async () => {
    const client = createClient(TodoService, s.connectHttp1());
    const listed = await drain(
      client.listTasks({}, { headers: { authorization: `Bearer ${s.localToken}` } }),
    );
    assert.equal(listed.length, 3);
  });
});

describe("UpdateTasks", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  const update = (fields: MessageInitShape<typeof UpdateTasksRequestSchema>): UpdateTasksRequest =>
    create(UpdateTasksRequestSchema, fields);

  async function task(id: bigint) {
    const listed = await drain(s.todo().listTasks({}));
    return listed.find((r) => r.task?.id === id)?.task;
  }

  test("each message changes only what it sets; done true/false sets, absent leaves it; nanos exact", async () => {
    const client = s.todo();
    const { id } = await client.addTask({ description: "first", dueDate: FAR });
    const later = { seconds: FAR.seconds + 3600n, nanos: 123_456_789 };
    await client.updateTasks(
      from([
        update({ id, done: true }),
        update({ id, description: "renamed" }), // done absent: stays true
        update({ id, dueDate: later }),
      ]),
    );
    let t = await task(id);
    assert.deepEqual(
      [t?.description, t?.done, t?.dueDate?.seconds, t?.dueDate?.nanos],
      ["renamed", true, later.seconds, later.nanos],
    );
    // Empty description and no due date: unchanged; explicit done=false clears.
    await client.updateTasks(from([update({ id, description: "", done: false })]));
    t = await task(id);
    assert.deepEqual([t?.description, t?.done, t?.dueDate?.nanos], ["renamed", false, later.nanos]);
  });

  test("a book client's message (done=false is not on the wire in the book's proto) leaves done as is", async () => {
    const client = s.todo();
    const { id } = await client.addTask({ description: "book", dueDate: FAR });
    await client.updateTasks(from([update({ id, done: true })]));
    // What grpc-go sends for &pb.UpdateTasksRequest{Id: id, Description: "x", Done: false}: fields 1 and 2 only.
    await client.updateTasks(from([update({ id, description: "x" })]));
    assert.equal((await task(id))?.done, true);
  });

  test("unknown id → NOT_FOUND before the client half-closes; nothing is applied", async () => {
    const client = s.todo();
    const { id } = await client.addTask({ description: "keep", dueDate: FAR });
    const halfClose = defer();
    async function* requests() {
      yield update({ id, description: "changed" });
      yield update({ id: 999_999n, description: "nope" });
      await halfClose.promise; // the client keeps its side open: the error must come before the end
    }
    const error = await errorOf(client.updateTasks(requests()));
    halfClose.resolve();
    assert.equal(error.code, Code.NotFound);
    assert.match(error.rawMessage, /task 999999 not found/);
    assert.equal((await task(id))?.description, "keep");
  });

  test("an id beyond SQLite's rowids (up to the proto's 2^64−1) → NOT_FOUND, as for any unknown id", async () => {
    const client = s.todo();
    const { id } = await client.addTask({ description: "kept", dueDate: FAR });
    for (const huge of [2n ** 63n, 2n ** 64n - 1n]) {
      const error = await errorOf(
        client.updateTasks(from([update({ id, description: "x" }), update({ id: huge })])),
      );
      assert.equal(error.code, Code.NotFound);
      assert.match(error.rawMessage, new RegExp(`task ${huge} not found`));
    }
    assert.equal((await task(id))?.description, "kept");
  });

  test("an invalid message mid-stream → INVALID_ARGUMENT naming the field; earlier messages not applied", async () => {
    const client = s.todo();
    const { id } = await client.addTask({ description: "keep", dueDate: FAR });
    const tooLong = await errorOf(
      client.updateTasks(from([update({ id, done: true }), update({ id, description: "y".repeat(1001) })])),
    );
    assert.equal(tooLong.code, Code.InvalidArgument);
    assert.match(tooLong.rawMessage, /^description: must be at most 1000 characters \(update 2, task \d+\)/);
    const past = await errorOf(
      client.updateTasks(from([update({ id, done: true }), update({ id, dueDate: PAST })])),
    );
    assert.equal(past.code, Code.InvalidArgument);
    assert.match(past.rawMessage, /^due_date: must not be in the past/);
    const t = await task(id);
    assert.deepEqual([t?.description, t?.done], ["keep", false]);
  });

  test(`more than ${MAX_UPDATES_PER_STREAM} updates in one stream → RESOURCE_EXHAUSTED naming the limit`, async () => {
    const client = s.todo();
    const { id } = await client.addTask({ description: "keep", dueDate: FAR });
    const requests = Array.from({ length: MAX_UPDATES_PER_STREAM + 1 }, () => update({ id, done: true }));
    const error = await errorOf(client.updateTasks(from(requests)));
    assert.equal(error.code, Code.ResourceExhausted);
    assert.match(error.rawMessage, new RegExp(`limit is ${MAX_UPDATES_PER_STREAM}`));
    assert.equal((await task(id))?.done, false);
  });
});

describe("UpdateTasks memory limits", () => {
  const LONGEST = "🙂".repeat(1000); // the longest description: 4,000 bytes in UTF-8
  const update = (fields: MessageInitShape<typeof UpdateTasksRequestSchema>): UpdateTasksRequest =>
    create(UpdateTasksRequestSchema, fields);

  test(`a stream holding more than ${MAX_UPDATE_BYTES_PER_STREAM} bytes → RESOURCE_EXHAUSTED naming the limit; nothing applied`, async () => {
    const s = await startTestServer();
    after(() => s.close());
    const client = s.todo();
    const { id } = await client.addTask({ description: "keep", dueDate: FAR });
    // Well under the 10,000-message limit, well over the byte limit.
    const count = Math.ceil(MAX_UPDATE_BYTES_PER_STREAM / LONGEST.length) + 50;
    const logged = s.nextCallLog("todo.v2.TodoService/UpdateTasks");
    const error = await errorOf(
      client.updateTasks(from(Array.from({ length: count }, () => update({ id, description: LONGEST })))),
    );
    assert.equal(error.code, Code.ResourceExhausted);
    assert.match(error.rawMessage, new RegExp(`limit is ${MAX_UPDATE_BYTES_PER_STREAM} bytes`));
    const line = await logged;
    assert.deepEqual([line.outcome, line.cause], ["RESOURCE_EXHAUSTED", "limits"]);
    assert.ok(Number(line.messages) < count);
    const [listed] = await drain(client.listTasks({}));
    assert.equal(listed?.task?.description, "keep");
  });

  // The limit is what a stream may hold, so exactly that much is accepted: one byte more is refused.
  test("a stream may hold exactly its byte limit, not one update more", async () => {
    const perUpdate = heldBytes({ id: 1n, description: LONGEST });
    const s = await startTestServer({}, { todoLimits: { maxUpdateBytesPerStream: 2 * perUpdate } });
    after(() => s.close());
    const client = s.todo();
    const { id } = await client.addTask({ description: "keep", dueDate: FAR });
    await client.updateTasks(
      from([update({ id, description: LONGEST }), update({ id, description: LONGEST })]),
    );
    const error = await errorOf(
      client.updateTasks(from(Array.from({ length: 3 }, () => update({ id, description: LONGEST })))),
    );
    assert.equal(error.code, Code.ResourceExhausted);
    assert.match(error.rawMessage, new RegExp(`limit is ${2 * perUpdate} bytes`));
  });

  describe("server-wide, across open streams", () => {
    // Room for four of the longest updates (4,128 bytes each as counted), not five.
    const LIMIT = 20_000;
    let s: TestServer;
    let store: ProbedStore;
    before(async () => {
      ({ s, store } = await probedServer({ todoLimits: { maxHeldUpdateBytes: LIMIT } }));
    });
    after(() => s.close());

    /** A stream that sends four of the longest updates, then holds them until `end` resolves. */
    async function holdFour(id: bigint, description = LONGEST) {
      const checksBefore = store.checks;
      const end = defer();
      async function* requests() {
        for (let i = 0; i < 4; i++) yield update({ id, description });
        await end.promise;
      }
      const call = s.todo().updateTasks(requests());
      await waitUntil("the server holds all four", () => store.checks === checksBefore + 4);
      return { end: () => end.resolve(), call };
    }

    test("a stream that would pass the budget is refused while another holds it, and accepted once it ends", async () => {
      const client = s.todo();
      const { id } = await client.addTask({ description: "keep", dueDate: FAR });
      const first = await holdFour(id, `${LONGEST.slice(2)}!`);
      const logged = s.nextCallLog("todo.v2.TodoService/UpdateTasks");
      const refused = await errorOf(client.updateTasks(from([update({ id, description: LONGEST })])));
      assert.equal(refused.code, Code.ResourceExhausted);
      assert.match(refused.rawMessage, new RegExp(`server-wide limit of ${LIMIT} bytes`));
      const line = await logged;
      assert.deepEqual([line.outcome, line.cause], ["RESOURCE_EXHAUSTED", "limits"]);
      const [listed] = await drain(client.listTasks({}));
      assert.equal(listed?.task?.description, "keep", "the refused stream applied nothing");
      first.end();
      await first.call;
      // Four more fit only if the first stream's bytes were given back.
      const second = await holdFour(id);
      second.end();
      await second.call;
      const [after] = await drain(client.listTasks({}));
      assert.equal(after?.task?.description, LONGEST);
    });

    test("the bytes are given back when a stream fails or is cancelled", async () => {
      const client = s.todo();
      const { id } = await client.addTask({ description: "keep", dueDate: FAR });
      // Fails with NOT_FOUND after holding four; four more fit afterwards only if they were given back.
      const longest = Array.from({ length: 4 }, () => update({ id, description: LONGEST }));
      const failed = await errorOf(client.updateTasks(from([...longest, update({ id: 999_999n })])));
      assert.equal(failed.code, Code.NotFound);
      const afterError = await holdFour(id);
      afterError.end();
      await afterError.call;
      // Cancelled (RST_STREAM) after holding four.
      const checksBefore = store.checks;
      const cancelled = rawCall(s, "UpdateTasks");
      for (let i = 0; i < 4; i++) {
        cancelled.send(toBinary(UpdateTasksRequestSchema, update({ id, description: LONGEST })));
      }
      await waitUntil("the server holds all four", () => store.checks === checksBefore + 4);
      const logged = s.nextCallLog("todo.v2.TodoService/UpdateTasks");
      cancelled.cancel();
      assert.equal((await logged).outcome, "CANCELLED");
      cancelled.close();
      const last = await holdFour(id);
      // The budget is still in force: these four leave no room for a fifth.
      const refused = await errorOf(client.updateTasks(from([update({ id, description: LONGEST })])));
      assert.equal(refused.code, Code.ResourceExhausted);
      last.end();
      await last.call;
    });
  });
});

describe("UpdateTasks and DeleteTasks cancelled mid-way", () => {
  let s: TestServer;
  let store: ProbedStore;
  before(async () => {
    ({ s, store } = await probedServer());
  });
  after(() => s.close());

  test("a cancelled UpdateTasks (RST_STREAM before half-close) leaves the store unchanged", async () => {
    const client = s.todo();
    const ids: bigint[] = [];
    for (let i = 0; i < 3; i++) ids.push((await client.addTask({ description: `t${i}`, dueDate: FAR })).id);
    const before = await drain(client.listTasks({}));
    const checksBefore = store.checks;
    const call = rawCall(s, "UpdateTasks");
    for (const id of ids) {
      call.send(
        toBinary(
          UpdateTasksRequestSchema,
          create(UpdateTasksRequestSchema, { id, description: "changed", done: true }),
        ),
      );
    }
    await waitUntil("the server has received and checked all three", () => store.checks === checksBefore + 3);
    call.cancel();
    const line = await s.callLog("todo.v2.TodoService/UpdateTasks", "CANCELLED");
    call.close();
    assert.deepEqual([line.cause, line.messages], ["client-cancelled", 3]);
    assert.equal(store.updateCalls, 0, "no transaction was even started");
    assert.deepEqual(await drain(client.listTasks({})), before);
  });

  test("a deadline during UpdateTasks → DEADLINE_EXCEEDED, nothing applied", async () => {
    const client = s.todo();
    const { id } = await client.addTask({ description: "keep", dueDate: FAR });
    const updatesBefore = store.updateCalls;
    const checksBefore = store.checks;
    const call = rawCall(s, "UpdateTasks", { "grpc-timeout": "200m" });
    call.send(
      toBinary(UpdateTasksRequestSchema, create(UpdateTasksRequestSchema, { id, description: "changed" })),
    );
    await waitUntil("the server has checked the update", () => store.checks === checksBefore + 1);
    // The client never half-closes: the server's deadline ends the call.
    const line = await s.callLog("todo.v2.TodoService/UpdateTasks", "DEADLINE_EXCEEDED");
    call.close();
    assert.deepEqual([line.cause, line.messages], ["deadline", 1]);
    assert.equal(store.updateCalls, updatesBefore);
    const listed = await drain(client.listTasks({}));
    assert.equal(listed.find((r) => r.task?.id === id)?.task?.description, "keep");
  });

  test("a cancelled DeleteTasks keeps exactly the acknowledged deletes (connect-node client, lock-step)", async () => {
    const client = s.todo();
    const ids: bigint[] = [];
    for (let i = 0; i < 5; i++) ids.push((await client.addTask({ description: `d${i}`, dueDate: FAR })).id);
    const abort = new AbortController();
    // Lock-step: each request is sent only after the previous one was answered.
    let answered = defer();
    const never = defer();
    async function* requests() {
      for (const id of ids.slice(0, 2)) {
        yield { id };
        await answered.promise;
        answered = defer();
      }
      await never.promise; // the 3rd..5th are never sent
    }
    let acked = 0;
    const call = (async () => {
      for await (const _ of client.deleteTasks(requests(), { signal: abort.signal })) {
        acked++;
        answered.resolve();
        if (acked === 2) abort.abort();
      }
    })();
    assert.equal((await errorOf(call)).code, Code.Canceled);
    never.resolve();
    assert.deepEqual(await idsStillListed(client, ids), ids.slice(2));
  });

  test("DeleteTasks reset mid-stream: exactly the answered deletes applied; the log says client-cancelled", async () => {
    const client = s.todo();
    const ids: bigint[] = [];
    for (let i = 0; i < 4; i++) ids.push((await client.addTask({ description: `r${i}`, dueDate: FAR })).id);
    const call = rawCall(s, "DeleteTasks");
    for (const [n, id] of ids.slice(0, 2).entries()) {
      call.send(toBinary(DeleteTasksRequestSchema, create(DeleteTasksRequestSchema, { id })));
      await call.answers(n + 1);
    }
    // This call's own line: an earlier test's cancelled DeleteTasks logged a line that would match as well.
    const logged = s.nextCallLog("todo.v2.TodoService/DeleteTasks");
    call.cancel();
    const line = await logged;
    call.close();
    assert.equal(line.outcome, "CANCELLED");
    assert.deepEqual([line.cause, line.messages], ["client-cancelled", 2]);
    assert.deepEqual(await idsStillListed(client, ids), ids.slice(2));
  });

  test("DeleteTasks answers each delete in order; an unknown id → NOT_FOUND after the earlier answers", async () => {
    const client = s.todo();
    const a = (await client.addTask({ description: "a", dueDate: FAR })).id;
    const b = (await client.addTask({ description: "b", dueDate: FAR })).id;
    const answers: number[] = [];
    const error = await errorOf(
      (async () => {
        for await (const _ of client.deleteTasks(from([{ id: a }, { id: 987_654n }, { id: b }])))
          answers.push(1);
      })(),
    );
    assert.equal(error.code, Code.NotFound);
    assert.match(error.rawMessage, /task 987654 not found/);
    assert.equal(answers.length, 1);
    const left = (await drain(client.listTasks({}))).map((r) => r.task?.id);
    assert.ok(!left.includes(a) && left.includes(b));
  });

  test("DeleteTasks of an id beyond SQLite's rowids → NOT_FOUND; the deletes around it are unaffected", async () => {
    const client = s.todo();
    const a = (await client.addTask({ description: "a", dueDate: FAR })).id;
    const b = (await client.addTask({ description: "b", dueDate: FAR })).id;
    // Another caller's delete in the same group commit must not be rolled back by the bad id.
    const other = drain(client.deleteTasks(from([{ id: b }])));
    const error = await errorOf(drain(client.deleteTasks(from([{ id: a }, { id: 2n ** 64n - 1n }]))));
    await other;
    assert.equal(error.code, Code.NotFound);
    assert.match(error.rawMessage, /task 18446744073709551615 not found/);
    const left = (await drain(client.listTasks({}))).map((r) => r.task?.id);
    assert.ok(!left.includes(a) && !left.includes(b));
  });
});

describe("ListTasks cancellation, deadline, disconnect and back-pressure", () => {
  const TOTAL = 50_000;
  const OVERDUE_AT = 3; // 1-based position of the first overdue task
  let s: TestServer;
  let store: ProbedStore;
  before(async () => {
    ({ s, store } = await probedServer());
    await fill(store, LOCAL_USER, OVERDUE_AT - 1);
    await store.addTask(never, LOCAL_USER, "overdue", PAST);
    await fill(store, LOCAL_USER, TOTAL - OVERDUE_AT);
  });
  after(() => s.close());

  test("cancel at the first overdue task: CANCELLED, the server stops reading, its log says client-cancelled", async () => {
    const listing = store.pulledPerListing.length; // this test's listing is the next to start
    const abort = new AbortController();
    let received = 0;
    const error = await errorOf(
      (async () => {
        for await (const res of s.todo().listTasks({}, { signal: abort.signal })) {
          received++;
          if (res.overdue) abort.abort();
        }
      })(),
    );
    assert.equal(error.code, Code.Canceled);
    assert.equal(received, OVERDUE_AT);
    const line = await s.callLog("todo.v2.TodoService/ListTasks", "CANCELLED");
    assert.equal(line.cause, "client-cancelled");
    assert.equal(typeof line.messages, "number");
    assert.ok(Number(line.messages) < TOTAL, `streamed ${line.messages} of ${TOTAL}`);
    const pulled = store.pulledPerListing[listing] ?? 0;
    // What flow control alone would allow is thousands of rows; a server that stops reading at the cancel has
    // pulled at most the row in hand beyond those it sent.
    assert.ok(pulled <= Number(line.messages) + 1, `read ${pulled} rows, sent ${line.messages}`);
  });

  test("a deadline on a long listing read slowly → DEADLINE_EXCEEDED, the log says deadline", async () => {
    const listing = store.pulledPerListing.length; // this test's listing is the next to start
    let received = 0;
    const error = await errorOf(
      (async () => {
        for await (const _ of s.todo().listTasks({}, { timeoutMs: 300 })) {
          if (++received % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1)); // a slow reader
        }
      })(),
    );
    assert.ok([Code.DeadlineExceeded, Code.Internal].includes(error.code), Code[error.code]);
    assert.ok(received < TOTAL);
    const line = await s.callLog("todo.v2.TodoService/ListTasks", "DEADLINE_EXCEEDED");
    assert.equal(line.cause, "deadline");
    assert.ok(Number(line.messages) < TOTAL);
    const pulled = store.pulledPerListing[listing] ?? 0;
    assert.ok(pulled <= Number(line.messages) + 1, `read ${pulled} rows, sent ${line.messages}`);
  });

  test("a client that stops reading stops the reads of the store; reading again resumes them", async () => {
    const listing = store.pulledPerListing.length; // this test's listing is the next to start
    const pulled = () => store.pulledPerListing[listing] ?? 0;
    const abort = new AbortController();
    const stream = s.todo().listTasks({}, { signal: abort.signal })[Symbol.asyncIterator]();
    await stream.next();
    // Flow-control windows fill, the server's write waits for 'drain', the generator is not pulled: the count
    // stands still (for 50 ms, so that a busy event loop is not mistaken for a paused one).
    let last = -1;
    let since = performance.now();
    await waitUntil("the server stops pulling rows", () => {
      const now = pulled();
      if (now !== last) {
        last = now;
        since = performance.now();
      }
      return performance.now() - since >= 50;
    });
    const paused = pulled();
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(pulled(), paused, "no row was read while the client was not reading");
    assert.ok(paused < TOTAL / 2, `${paused} rows read ahead of a client that took 1`);
    for (let i = 0; i < 15_000; i++) await stream.next();
    assert.ok(pulled() > paused, `reading again resumed the reads (${paused} before, ${pulled()} after)`);
    abort.abort();
    await stream.return?.();
  });

  test("the connection dropped mid-listing: the server stops reading, the log says disconnected", async () => {
    const listing = store.pulledPerListing.length; // this test's listing is the next to start
    const connection = connectDroppable(s.address);
    const stream = connection.session.request({
      ":method": "POST",
      ":path": "/todo.v2.TodoService/ListTasks",
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${s.localToken}`,
    });
    stream.on("error", () => {});
    stream.end(Buffer.from([0, 0, 0, 0, 0])); // one empty ListTasksRequest
    const firstData = defer();
    stream.once("data", () => {
      stream.pause(); // read nothing more: the server fills the window and waits
      firstData.resolve();
    });
    await firstData.promise;
    const peer = connection.peer;
    connection.drop();
    const line = await s.log.waitFor((e) => e.event === "call" && e.peer === peer);
    assert.equal(line.method, "todo.v2.TodoService/ListTasks");
    assert.equal(line.cause, "disconnected");
    const pulled = store.pulledPerListing[listing] ?? 0;
    assert.ok(pulled <= Number(line.messages) + 1, `read ${pulled} rows, sent ${line.messages}`);
  });
});

describe("who may see what", () => {
  let s: TestServer;
  let bob: string;
  before(async () => {
    s = await startTestServer();
    bob = (await s.server.store.createUser(never, "bob")).token;
  });
  after(() => s.close());

  test("no authorization header, a malformed one, or an unknown token → UNAUTHENTICATED; HashFinder stays open", async () => {
    const missing = await errorOf(s.todo(null).addTask({ description: "a", dueDate: FAR }));
    assert.equal(missing.code, Code.Unauthenticated);
    assert.match(missing.rawMessage, /Bearer/);
    const unknown = await errorOf(drain(s.todo("not-a-token").listTasks({})));
    assert.equal(unknown.code, Code.Unauthenticated);
    const malformed = await errorOf(
      s.todo(null).addTask({ description: "a", dueDate: FAR }, { headers: { authorization: s.localToken } }),
    );
    assert.equal(malformed.code, Code.Unauthenticated);
    const line = await s.callLog("todo.v2.TodoService/AddTask", "UNAUTHENTICATED");
    assert.equal(line.cause, undefined);
    const found = await s.hashFinder().find({ desiredName: "aa" });
    assert.equal(found.secret, "ZA==");
  });

  // HTTP auth schemes are case-insensitive (RFC 9110 §11.1), and hand-typed headers (grpcurl -H) vary.
  test('the scheme is case-insensitive: "bearer <token>" and "BEARER <token>" are accepted', async () => {
    for (const scheme of ["bearer", "BEARER"]) {
      const { id } = await s
        .todo(null)
        .addTask(
          { description: scheme, dueDate: FAR },
          { headers: { authorization: `${scheme} ${s.localToken}` } },
        );
      assert.ok(id > 0n, scheme);
      await drain(s.todo().deleteTasks(from([{ id }])));
    }
  });

  test("two users cannot see or change each other's tasks: NOT_FOUND as for an id that does not exist", async () => {
    const alice = s.todo();
    const { id } = await alice.addTask({ description: "alice's", dueDate: FAR });
    const bobs = s.todo(bob);
    const { id: bobsId } = await bobs.addTask({ description: "bob's", dueDate: FAR });
    assert.deepEqual(
      (await drain(bobs.listTasks({}))).map((r) => r.task?.id),
      [bobsId],
    );
    const foreign = await errorOf(bobs.updateTasks(from([{ id, description: "mine now" }])));
    const missing = await errorOf(bobs.updateTasks(from([{ id: id + 1000n, description: "x" }])));
    assert.equal(foreign.code, Code.NotFound);
    assert.equal(
      foreign.rawMessage.replace(String(id), "N"),
      missing.rawMessage.replace(String(id + 1000n), "N"),
    );
    assert.equal((await errorOf(drain(bobs.deleteTasks(from([{ id }]))))).code, Code.NotFound);
    const alices = await drain(alice.listTasks({}));
    assert.deepEqual(
      alices.map((r) => [r.task?.id, r.task?.description]),
      [[id, "alice's"]],
    );
  });
});
