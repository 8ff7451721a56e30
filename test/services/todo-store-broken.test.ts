/** A TodoService whose store's writer thread died: writes fail INTERNAL, reads go on, health says NOT_SERVING. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.ts";
import { errorOf } from "../helpers/call-error.ts";
import { startTestServer } from "../helpers/server.ts";

const dyingWriter = new URL("../store/fixtures/dying-writer.ts", import.meta.url);
const due = { seconds: 4_102_444_800n, nanos: 0 };

test("a store whose writer thread died: writes fail INTERNAL, listing goes on, and health says NOT_SERVING so that probes restart it", async (t) => {
  const s = await startTestServer({ workers: 1 }, { storeWriterUrl: dyingWriter });
  t.after(() => s.close());
  const health = createClient(Health, s.grpc());
  const todo = s.todo();
  assert.equal((await health.check({ service: "todo.v2.TodoService" })).status, ServingStatus.SERVING);
  const { id } = await todo.addTask({ description: "kept", dueDate: due });

  assert.equal((await errorOf(todo.addTask({ description: "die", dueDate: due }))).code, Code.Internal);
  assert.equal((await errorOf(todo.addTask({ description: "later", dueDate: due }))).code, Code.Internal);
  for (const service of ["", "todo.v2.TodoService"]) {
    assert.equal((await health.check({ service })).status, ServingStatus.NOT_SERVING, `"${service}"`);
  }
  const line = await s.log.waitFor((e) => e.event === "store" && e.phase === "broken");
  assert.equal(line.level, "error");
  assert.match(String(line.error), /writer thread stopped: exit code 3/);
  const listed = [];
  for await (const res of todo.listTasks({})) listed.push(res.task?.id);
  assert.deepEqual(listed, [id]);
});
