/**
 * Starts a real cancelkit server in this process on 127.0.0.1:0 with its own temp data dir, for one test;
 * `close()` shuts it down and removes the dir. Clients reach it over real sockets.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client, Transport } from "@connectrpc/connect";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { HashFinder } from "../../src/gen/hash_name/hash_name_pb.ts";
import { type CancelkitServer, startServer } from "../../src/server/create-server.ts";
import { defaultServerOptions, type ServerOptions } from "../../src/server/options.ts";
import { createMemoryLogger, type MemoryLogger } from "./memory-logger.ts";

export interface TestServer {
  readonly server: CancelkitServer;
  readonly log: MemoryLogger;
  readonly address: string;
  readonly dataDir: string;
  /** A gRPC (h2c) transport, like grpcio/grpc-go use. */
  grpc(): Transport;
  /** A Connect-protocol transport over HTTP/1.1, like a browser on plain http. */
  connectHttp1(): Transport;
  hashFinder(transport?: Transport): Client<typeof HashFinder>;
  /** The call log line for `method` with the given outcome (waits for it). */
  callLog(method: string, outcome?: string): ReturnType<MemoryLogger["waitFor"]>;
  close(): Promise<void>;
}

export async function startTestServer(overrides: Partial<ServerOptions> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-test-"));
  const log = createMemoryLogger();
  const options: ServerOptions = {
    ...defaultServerOptions(),
    port: 0,
    workers: 2,
    maxPerClient: 0,
    graceMs: 2000,
    dataDir,
    ...overrides,
  };
  const server = await startServer(options, log);
  const address = `127.0.0.1:${server.port}`;
  const baseUrl = `http://${address}`;
  const grpc = () => createGrpcTransport({ baseUrl });
  return {
    server,
    log,
    address,
    dataDir,
    grpc,
    connectHttp1: () => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
    hashFinder: (transport = grpc()) => createClient(HashFinder, transport),
    callLog: (method, outcome) =>
      log.waitFor(
        (e) => e.event === "call" && e.method === method && (outcome === undefined || e.outcome === outcome),
      ),
    async close() {
      await server.shutdown(0);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
