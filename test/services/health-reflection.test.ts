/**
 * Health checking and server reflection over real HTTP/2 sockets, called by gRPC clients generated from the
 * vendored official protos: what grpc_health_probe and grpcurl-style tools would see.
 */
import assert from "node:assert/strict";
import { createServer, type Http2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { type DescService, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../../src/gen/grpc/health/v1/health_pb.ts";
import {
  ServerReflection as ReflectionV1,
  type ServerReflectionRequestSchema as RequestV1Schema,
} from "../../src/gen/grpc/reflection/v1/reflection_pb.ts";
import { ServerReflection as ReflectionV1alpha } from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { HashFinder } from "../../src/gen/hash_name/hash_name_pb.ts";
import { TodoService } from "../../src/gen/todo/v2/todo_pb.ts";
import { registerGrpcExtras } from "../../src/services/grpc-extras.ts";
import { HealthState } from "../../src/services/health.ts";

const APP_SERVICES: DescService[] = [HashFinder, TodoService];
const ALL_SERVICE_NAMES = [
  "hash_name.HashFinder",
  "todo.v2.TodoService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

interface Fixture {
  health: HealthState;
  sessions: Http2SessionManager;
  healthClient: ReturnType<typeof createClient<typeof Health>>;
  reflect(
    version: typeof ReflectionV1 | typeof ReflectionV1alpha,
    requests: RequestInit["messageRequest"][],
  ): Promise<ReflectionReply[]>;
  close(): Promise<void>;
}

type RequestInit = MessageInitShape<typeof RequestV1Schema>;

/** The parts of a response these tests read, identical in v1 and v1alpha. */
interface ReflectionReply {
  messageResponse: { case: string | undefined; value?: unknown };
}

async function startFixture(): Promise<Fixture> {
  const health = new HealthState();
  const routes = (router: ConnectRouter) => {
    // No implementations: reflection and health only need the services' descriptors.
    router.service(HashFinder, {});
    router.service(TodoService, {});
    registerGrpcExtras(router, APP_SERVICES, health);
  };
  const server = createServer(connectNodeAdapter({ routes }));
  const serverSessions = new Set<Http2Session>();
  server.on("session", (session) => {
    serverSessions.add(session);
    session.once("close", () => serverSessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sessions = new Http2SessionManager(baseUrl);
  const transport = createGrpcTransport({ baseUrl, sessionManager: sessions });
  return {
    health,
    sessions,
    healthClient: createClient(Health, transport),
    async reflect(version, requests) {
      const client = createClient(version as typeof ReflectionV1, transport);
      const replies: ReflectionReply[] = [];
      async function* send() {
        for (const messageRequest of requests) yield { host: "", messageRequest };
      }
      for await (const reply of client.serverReflectionInfo(send(), { timeoutMs: 10_000 }))
        replies.push(reply);
      return replies;
    },
    async close() {
      sessions.abort();
      for (const session of serverSessions) session.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function decodeFiles(reply: ReflectionReply | undefined): FileDescriptorProto[] {
  assert.ok(reply);
  assert.equal(reply.messageResponse.case, "fileDescriptorResponse", JSON.stringify(reply.messageResponse));
  const value = reply.messageResponse.value as { fileDescriptorProto: Uint8Array[] };
  return value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

function errorOf(reply: ReflectionReply | undefined): { errorCode: number; errorMessage: string } {
  assert.ok(reply);
  assert.equal(reply.messageResponse.case, "errorResponse", JSON.stringify(reply.messageResponse));
  return reply.messageResponse.value as { errorCode: number; errorMessage: string };
}

describe("grpc.health.v1.Health", () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(() => f.close());

  test('Check("") is SERVING, and so is each registered service', async () => {
    assert.equal((await f.healthClient.check({ service: "" }, { timeoutMs: 5000 })).status, Status.SERVING);
    for (const service of ["hash_name.HashFinder", "todo.v2.TodoService"]) {
      assert.equal((await f.healthClient.check({ service }, { timeoutMs: 5000 })).status, Status.SERVING);
    }
  });

  test('Check("nope") fails with NOT_FOUND', async () => {
    await assert.rejects(f.healthClient.check({ service: "nope" }, { timeoutMs: 5000 }), (error) => {
      assert.equal(ConnectError.from(error).code, Code.NotFound);
      return true;
    });
  });

  test("Check of a 70,000-character name: NOT_FOUND quoting its first 100 characters (gRPC sends the message as a header)", async () => {
    await assert.rejects(
      f.healthClient.check({ service: "x".repeat(70_000) }, { timeoutMs: 5000 }),
      (reason) => {
        const error = ConnectError.from(reason);
        assert.equal(error.code, Code.NotFound, error.message);
        assert.equal(error.rawMessage, `service "${"x".repeat(100)}"… (70000 characters) not found`);
        return true;
      },
    );
  });

  test("List returns every status", async () => {
    const { statuses } = await f.healthClient.list({}, { timeoutMs: 5000 });
    assert.deepEqual(Object.keys(statuses).sort(), ["", "hash_name.HashFinder", "todo.v2.TodoService"]);
    assert.equal(statuses["todo.v2.TodoService"]?.status, Status.SERVING);
  });

  test("Watch sends SERVING, then NOT_SERVING after a flip; ending the call leaves no listener", async () => {
    const service = "hash_name.HashFinder";
    const controller = new AbortController();
    const stream = f.healthClient
      .watch({ service }, { signal: controller.signal, timeoutMs: 10_000 })
      [Symbol.asyncIterator]();
    try {
      assert.equal((await stream.next()).value?.status, Status.SERVING);
      assert.equal(f.health.listenerCount, 1);
      f.health.set(service, Status.NOT_SERVING);
      assert.equal((await stream.next()).value?.status, Status.NOT_SERVING);
      f.health.set(service, Status.SERVING);
      assert.equal((await stream.next()).value?.status, Status.SERVING);
    } finally {
      await cancel(controller, stream);
    }
    // The server learns of the cancel through RST_STREAM; wait for that event, not for time.
    await untilNoListeners(f.health);
  });

  test("Watch of an unknown service sends SERVICE_UNKNOWN, then its status once it is set", async () => {
    const controller = new AbortController();
    const stream = f.healthClient
      .watch({ service: "later" }, { signal: controller.signal, timeoutMs: 10_000 })
      [Symbol.asyncIterator]();
    try {
      assert.equal((await stream.next()).value?.status, Status.SERVICE_UNKNOWN);
      f.health.set("later", Status.SERVING);
      assert.equal((await stream.next()).value?.status, Status.SERVING);
    } finally {
      await cancel(controller, stream);
    }
    await untilNoListeners(f.health);
  });

  test("enterShutdown flips watchers to NOT_SERVING, ends their streams with OK, and ignores later set()", async () => {
    const watchers = ["", "hash_name.HashFinder", "never-registered"].map((service) =>
      f.healthClient.watch({ service }, { timeoutMs: 10_000 })[Symbol.asyncIterator](),
    );
    const first = await Promise.all(watchers.map((stream) => stream.next()));
    assert.deepEqual(
      first.map((r) => r.value?.status),
      [Status.SERVING, Status.SERVING, Status.SERVICE_UNKNOWN],
    );
    f.health.enterShutdown();
    const [all, hashFinder, unknown] = watchers;
    for (const stream of [all, hashFinder]) {
      assert.equal((await stream?.next())?.value?.status, Status.NOT_SERVING);
      assert.equal((await stream?.next())?.done, true, "the stream ends with OK after NOT_SERVING");
    }
    assert.equal((await unknown?.next())?.done, true, "an unknown service's watch ends too");
    await untilNoListeners(f.health);

    f.health.set("", Status.SERVING);
    for (const [, status] of f.health.entries()) assert.equal(status, Status.NOT_SERVING);
    assert.equal(
      (await f.healthClient.check({ service: "" }, { timeoutMs: 5000 })).status,
      Status.NOT_SERVING,
    );
    const late = [];
    for await (const reply of f.healthClient.watch({ service: "" }, { timeoutMs: 10_000 }))
      late.push(reply.status);
    assert.deepEqual(late, [Status.NOT_SERVING], "a Watch started after shutdown gets NOT_SERVING and ends");
  });
});

/**
 * Cancels a client stream and reads it to its end: until the client's iterator settles, Connect keeps the call's
 * deadline timer (and so the process) alive.
 */
async function cancel(controller: AbortController, stream: AsyncIterator<unknown>): Promise<void> {
  controller.abort();
  await assert.rejects(stream.next(), (error) => ConnectError.from(error).code === Code.Canceled);
}

/** Waits for the server-side listener of a cancelled Watch to go; the bound is a sanity check only. */
async function untilNoListeners(health: HealthState): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (health.listenerCount > 0) {
    assert.ok(performance.now() < deadline, `a Watch listener is still registered (${health.listenerCount})`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

for (const version of [ReflectionV1, ReflectionV1alpha]) {
  describe(version.typeName, () => {
    let f: Fixture;
    before(async () => {
      f = await startFixture();
    });
    after(() => f.close());

    test("list_services lists the application's services, Health and both reflection versions", async () => {
      const [reply] = await f.reflect(version, [{ case: "listServices", value: "" }]);
      assert.equal(reply?.messageResponse.case, "listServicesResponse");
      const { service } = reply.messageResponse.value as { service: { name: string }[] };
      assert.deepEqual(service.map((s) => s.name).sort(), [...ALL_SERVICE_NAMES].sort());
    });

    test('file_containing_symbol "hash_name.HashFinder" returns hash_name/hash_name.proto with both methods', async () => {
      const [reply] = await f.reflect(version, [
        { case: "fileContainingSymbol", value: "hash_name.HashFinder" },
      ]);
      const [file, ...rest] = decodeFiles(reply);
      assert.equal(file?.name, "hash_name/hash_name.proto");
      assert.equal(file.package, "hash_name");
      assert.deepEqual(rest, [], "hash_name.proto imports nothing");
      const service = file.service.find((s) => s.name === "HashFinder");
      assert.ok(service);
      assert.deepEqual(
        service.method.map((m) => [m.name, m.inputType, m.outputType, m.serverStreaming]),
        [
          ["Find", ".hash_name.HashNameRequest", ".hash_name.HashNameResponse", false],
          ["FindRange", ".hash_name.HashNameRequest", ".hash_name.HashNameResponse", true],
        ],
      );
      assert.deepEqual(
        file.messageType.map((m) => m.name),
        ["HashNameRequest", "HashNameResponse"],
      );
    });

    test("file_containing_symbol finds methods, messages, fields and nested enums", async () => {
      const symbols = [
        ["todo.v2.TodoService.ListTasks", "todo/v2/todo.proto"],
        ["todo.v2.Task", "todo/v2/todo.proto"],
        ["todo.v2.Task.due_date", "todo/v2/todo.proto"],
        ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
        ["google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
        // Fully-qualified, as a descriptor's type references spell it (".pkg.Type"): tools send it so.
        [".hash_name.HashNameRequest", "hash_name/hash_name.proto"],
      ];
      const replies = await f.reflect(
        version,
        symbols.map(([symbol]) => ({ case: "fileContainingSymbol", value: symbol ?? "" })),
      );
      assert.deepEqual(
        replies.map((reply) => decodeFiles(reply)[0]?.name),
        symbols.map(([, file]) => file),
      );
    });

    test("file_by_filename sends a file with its imports, each file once per stream", async () => {
      const [first, again, symbol] = await f.reflect(version, [
        { case: "fileByFilename", value: "todo/v2/todo.proto" },
        { case: "fileByFilename", value: "todo/v2/todo.proto" },
        { case: "fileContainingSymbol", value: "google.protobuf.FieldMask" },
      ]);
      const files = decodeFiles(first);
      assert.equal(files[0]?.name, "todo/v2/todo.proto");
      assert.deepEqual(files.map((file) => file.name).sort(), [
        "google/protobuf/field_mask.proto",
        "google/protobuf/timestamp.proto",
        "todo/v2/todo.proto",
      ]);
      assert.deepEqual([...(files[0]?.dependency ?? [])].sort(), [
        "google/protobuf/field_mask.proto",
        "google/protobuf/timestamp.proto",
      ]);
      const timestamp = files.find((file) => file.name === "google/protobuf/timestamp.proto");
      assert.deepEqual(
        timestamp?.messageType[0]?.field.map((field) => field.name),
        ["seconds", "nanos"],
      );
      // Asked again on the same stream: the file itself, but not the imports the stream already has.
      assert.deepEqual(
        decodeFiles(again).map((file) => file.name),
        ["todo/v2/todo.proto"],
      );
      assert.deepEqual(
        decodeFiles(symbol).map((file) => file.name),
        ["google/protobuf/field_mask.proto"],
      );
    });

    test("a new stream sends the imports again", async () => {
      const [reply] = await f.reflect(version, [{ case: "fileByFilename", value: "todo/v2/todo.proto" }]);
      assert.equal(decodeFiles(reply).length, 3);
    });

    test("all_extension_numbers_of_type is empty for a known type, NOT_FOUND for an unknown one", async () => {
      const [known, unknown] = await f.reflect(version, [
        { case: "allExtensionNumbersOfType", value: "todo.v2.Task" },
        { case: "allExtensionNumbersOfType", value: "todo.v2.Nope" },
      ]);
      assert.equal(known?.messageResponse.case, "allExtensionNumbersResponse");
      assert.deepEqual(known.messageResponse.value, {
        $typeName: `${version.typeName.replace(/\.ServerReflection$/, "")}.ExtensionNumberResponse`,
        baseTypeName: "todo.v2.Task",
        extensionNumber: [],
      });
      assert.equal(errorOf(unknown).errorCode, Code.NotFound);
    });

    test("unknown symbols, files and extensions answer error_code 5 and the stream goes on", async () => {
      const replies = await f.reflect(version, [
        { case: "fileContainingSymbol", value: "hash_name.Nope" },
        { case: "fileByFilename", value: "missing.proto" },
        { case: "fileContainingExtension", value: { containingType: "todo.v2.Task", extensionNumber: 100 } },
        { case: "listServices", value: "" },
      ]);
      assert.equal(replies.length, 4);
      const [symbol, file, extension] = replies.map((reply, i) => (i < 3 ? errorOf(reply) : undefined));
      assert.equal(symbol?.errorCode, 5);
      assert.match(symbol?.errorMessage ?? "", /hash_name\.Nope/);
      assert.equal(file?.errorCode, 5);
      assert.match(file?.errorMessage ?? "", /missing\.proto/);
      assert.equal(extension?.errorCode, 5);
      assert.equal(replies[3]?.messageResponse.case, "listServicesResponse");
    });
  });
}
