/** The real server exposes health checking and reflection, and health turns NOT_SERVING when it shuts down. */
import assert from "node:assert/strict";
import { connect as connectHttp2 } from "node:http2";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "../../src/gen/grpc/health/v1/health_pb.ts";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
} from "../../src/gen/grpc/reflection/v1/reflection_pb.ts";
import { defer } from "../helpers/defer.ts";
import { rawGrpcCall } from "../helpers/raw-grpc.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitUntil } from "../helpers/wait.ts";

const REFLECTION_INFO = "grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

test("health Check answers SERVING for the server and each service; reflection lists them", async () => {
  const s = await startTestServer();
  try {
    const health = createClient(Health, s.grpc());
    for (const service of ["", "hash_name.HashFinder", "todo.v2.TodoService"]) {
      const res = await health.check({ service });
      assert.equal(res.status, HealthCheckResponse_ServingStatus.SERVING, service);
    }
    const reflection = createClient(ServerReflection, s.grpc());
    async function* request() {
      yield { host: "", messageRequest: { case: "listServices" as const, value: "" } };
    }
    const names: string[] = [];
    for await (const res of reflection.serverReflectionInfo(request())) {
      if (res.messageResponse.case === "listServicesResponse") {
        names.push(...res.messageResponse.value.service.map((service) => service.name));
      }
    }
    assert.ok(names.includes("hash_name.HashFinder") && names.includes("todo.v2.TodoService"), names.join());
  } finally {
    await s.close();
  }
});

test("a health Watch learns NOT_SERVING at shutdown and does not hold the drain", async () => {
  const s = await startTestServer({ graceMs: 30_000 });
  const statuses: number[] = [];
  const watching = (async () => {
    for await (const res of createClient(Health, s.grpc()).watch({ service: "" })) statuses.push(res.status);
  })();
  await waitUntil("the watch has its first status", () => statuses.length > 0);
  const started = performance.now();
  await s.server.shutdown(); // the server's own grace: 30 s
  await watching;
  await s.close();
  assert.deepEqual(statuses, [
    HealthCheckResponse_ServingStatus.SERVING,
    HealthCheckResponse_ServingStatus.NOT_SERVING,
  ]);
  assert.ok(performance.now() - started < 10_000, "shutdown did not wait for the 30 s grace period");
});

test("an idle reflection stream ends with UNAVAILABLE 'server shutting down' when the grace period is over", async () => {
  const s = await startTestServer();
  const hold = defer();
  // A tool that asked once and keeps its stream open: it neither sends more nor half-closes.
  async function* requests() {
    yield { host: "", messageRequest: { case: "listServices" as const, value: "" } };
    await hold.promise;
  }
  const stream = createClient(ServerReflection, s.grpc())
    .serverReflectionInfo(requests())
    [Symbol.asyncIterator]();
  try {
    assert.equal((await stream.next()).done, false, "the first request was answered");
    const ended = (async () => {
      try {
        while (!(await stream.next()).done) {}
      } catch (error) {
        return ConnectError.from(error);
      }
      return undefined;
    })();
    const stopping = s.server.shutdown(100);
    const error = await ended;
    hold.resolve(); // the client's side ends too, so its connection does not hold the drain
    await stopping;
    assert.equal(error?.code, Code.Unavailable, String(error));
    assert.match(error.rawMessage, /server shutting down/);
    const line = await s.callLog(REFLECTION_INFO, "UNAVAILABLE");
    assert.equal(line.cause, "shutdown");
  } finally {
    hold.resolve();
    await s.close();
  }
});

test("an idle reflection stream ends with DEADLINE_EXCEEDED when its grpc-timeout passes", async () => {
  const s = await startTestServer();
  // A raw call: connect-node would end the call at its own deadline whatever the server does.
  const session = connectHttp2(`http://${s.address}`);
  session.on("error", () => {});
  try {
    const call = rawGrpcCall(session, `/${REFLECTION_INFO}`, { "grpc-timeout": "200m" });
    call.send(
      toBinary(
        ServerReflectionRequestSchema,
        create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } }),
      ),
    );
    // The stream stays open: no half-close. (callLog gives up after 10 s, so a stream that never ends fails.)
    const line = await s.callLog(REFLECTION_INFO, "DEADLINE_EXCEEDED");
    assert.equal(line.cause, "deadline");
    const result = await call.result;
    call.stream.close(); // like a gRPC client once it has the trailers
    assert.equal(result.status, String(Code.DeadlineExceeded), JSON.stringify(result));
    assert.equal(result.messages.length, 1, "the request was answered before the deadline");
  } finally {
    session.close();
    await s.close();
  }
});
