/**
 * Probe (not part of `npm run bench`): how soon a bare node:http2 server — no Connect, no search — hears a
 * client's RST_STREAM, with the client in its own process, while 0–2 CPU-bound threads run in the server process.
 * It shows the floor under cancelkit's cancel latency on a given machine.
 *
 *   node bench/probes/rst-latency.ts [busyThreads=2] [nice=19] [connect]
 *
 * With `connect`, the server is a Connect-ES handler (a FindRange that never yields) and the time is taken when
 * the call's signal aborts, which adds Connect's share to the floor.
 */
import { fork } from "node:child_process";
import { type ClientHttp2Stream, connect, constants, createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { HashFinder } from "../../src/gen/hash_name/hash_name_pb.ts";
import { monotonicMs } from "../../src/pool/clock.ts";
import { percentile } from "../stats.ts";

const TRIALS = 300;
/** The machine's monotonic clock, which the client process reads too. */
const nowMicros = () => monotonicMs() * 1000;

if (process.argv[2] === "client") {
  const session = connect(`http://127.0.0.1:${process.argv[3]}`);
  let stream: ClientHttp2Stream | undefined;
  process.on("message", (command: string) => {
    if (command === "start") {
      stream = session.request({
        ":method": "POST",
        ":path": "/hash_name.HashFinder/FindRange",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => {});
      stream.end(Buffer.from([0, 0, 0, 0, 0])); // an empty HashNameRequest
      process.send?.("started");
    } else if (command === "cancel") {
      const at = nowMicros();
      stream?.close(constants.NGHTTP2_CANCEL);
      process.send?.(String(at));
    } else {
      session.destroy();
      process.exit(0);
    }
  });
} else {
  const busy = Number(process.argv[2] ?? 2);
  const nice = Number(process.argv[3] ?? 19);
  const spin = `require("node:os").setPriority(${nice}); for (;;) {}`;
  const threads = Array.from({ length: busy }, () => new Worker(spin, { eval: true }));
  const viaConnect = process.argv[4] === "connect";
  let heard: ((at: number) => void) | undefined;
  const server = viaConnect
    ? createServer(
        connectNodeAdapter({
          routes: (router) =>
            router.service(HashFinder, {
              find: () => Promise.reject(new Error("not probed")),
              async *findRange(_req, ctx) {
                // Holds the call open until it is cancelled, like a search that finds nothing.
                await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
                heard?.(nowMicros());
              },
            }),
        }),
      )
    : createServer();
  if (!viaConnect) {
    server.on("stream", (stream) => {
      stream.on("error", () => {});
      stream.on("close", () => heard?.(nowMicros()));
    });
  }
  server.listen(0, "127.0.0.1", async () => {
    const child = fork(import.meta.filename, ["client", String((server.address() as AddressInfo).port)]);
    const reply = () => new Promise<string>((resolve) => child.once("message", (m) => resolve(String(m))));
    const latencies: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      child.send("start");
      await reply();
      await new Promise((resolve) => setTimeout(resolve, 2));
      const closed = new Promise<number>((resolve) => {
        heard = resolve;
      });
      child.send("cancel");
      const sent = Number(await reply());
      latencies.push(((await closed) - sent) / 1000);
    }
    const at = (p: number) => percentile(latencies, p).toFixed(3);
    const by = viaConnect ? "Connect handler's signal" : "node:http2 stream close";
    console.log(
      `${busy} busy thread(s) at nice ${nice}, ${by}: RST heard p50 ${at(50)} ms, p99 ${at(99)} ms, max ${at(100)} ms`,
    );
    child.send("exit");
    for (const thread of threads) await thread.terminate();
    server.close();
  });
}
