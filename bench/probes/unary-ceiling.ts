/**
 * Probe (not part of `npm run bench`): unary gRPC calls/s of a bare node:http2 server answering by hand, and of
 * a bare Connect-ES server with a trivial handler, both driven by h2load (Debian's nghttp2-client) with 64 streams
 * in flight, so that the load generator costs next to nothing. It shows the ceiling the RPC layer puts on
 * cancelkit's AddTask figure.
 *
 *   node bench/probes/unary-ceiling.ts
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AddTaskRequestSchema, TodoService } from "../../src/gen/todo/v2/todo_pb.ts";

const CALLS = 20_000;

function listen(server: Http2Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

async function h2load(port: number, body: string): Promise<string> {
  // Asynchronous: the servers run on this thread.
  const { stdout: out } = await promisify(execFile)(
    "h2load",
    [
      "-n",
      String(CALLS),
      "-c",
      "4",
      "-m",
      "16",
      "-d",
      body,
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      `http://127.0.0.1:${port}/todo.v2.TodoService/AddTask`,
    ],
    { encoding: "utf8" },
  );
  return /finished in .*?, ([\d.]+) req\/s/.exec(out)?.[1] ?? `? (${out})`;
}

const message = toBinary(AddTaskRequestSchema, create(AddTaskRequestSchema, { description: "x" }));
const body = join(tmpdir(), "cancelkit-unary-ceiling.bin");
writeFileSync(body, Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]));

// node:http2 answering gRPC by hand: one empty AddTaskResponse{id=1} and an OK trailer.
const raw = createServer();
raw.on("stream", (stream) => {
  stream.on("data", () => {});
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(Buffer.from([0, 0, 0, 0, 2, 8, 1]));
  });
});
console.log(`bare node:http2:              ${await h2load(await listen(raw), body)} calls/s`);
raw.close();

let id = 0n;
const connect = createServer(
  connectNodeAdapter({
    routes: (router) =>
      router.rpc(TodoService.method.addTask, async () => {
        id++;
        return { id };
      }),
  }),
);
console.log(`bare Connect-ES, trivial handler: ${await h2load(await listen(connect), body)} calls/s`);
connect.close();
