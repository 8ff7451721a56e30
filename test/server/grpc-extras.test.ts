/** The real server exposes health checking and reflection, and health turns NOT_SERVING when it shuts down. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "../../src/gen/grpc/health/v1/health_pb.ts";
import { ServerReflection } from "../../src/gen/grpc/reflection/v1/reflection_pb.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitUntil } from "../helpers/wait.ts";

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
