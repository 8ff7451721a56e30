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
import { TodoService } from "../../src/gen/todo/v2/todo_pb.ts";
import {
  type CancelkitServer,
  type ServerDependencies,
  startServer,
} from "../../src/server/create-server.ts";
import { defaultServerOptions, type ServerOptions } from "../../src/server/options.ts";
import { readTokenFile, tokenPath } from "../../src/store/bootstrap.ts";
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
  /** The token of the user "local" that the server created on first start (read from `<dataDir>/token`). */
  readonly localToken: string;
  /**
   * A TodoService client on its own connection whose calls carry `authorization: Bearer <token>` (default: the
   * local token; `null`: no authorization header at all).
   */
  todo(token?: string | null): Client<typeof TodoService>;
  /** The call log line for `method` with the given outcome (waits for it). */
  callLog(method: string, outcome?: string): ReturnType<MemoryLogger["waitFor"]>;
  /** The first call log line for `method` written after this point (waits up to `timeoutMs`, default 20 s). */
  nextCallLog(method: string, timeoutMs?: number): ReturnType<MemoryLogger["waitForNext"]>;
  close(): Promise<void>;
}

export async function startTestServer(
  overrides: Partial<ServerOptions> = {},
  dependencies: ServerDependencies = {},
): Promise<TestServer> {
  // Removed by close(); a test that passes its own dataDir removes that one itself.
  const ownDir = await mkdtemp(join(tmpdir(), "cancelkit-test-"));
  const log = createMemoryLogger();
  const options: ServerOptions = {
    ...defaultServerOptions(),
    port: 0,
    workers: 2,
    maxPerClient: 0,
    graceMs: 2000,
    dataDir: ownDir,
    ...overrides,
  };
  const { dataDir } = options;
  const server = await startServer(options, log, dependencies);
  const stop = async () => {
    await server.shutdown(0);
    await rm(ownDir, { recursive: true, force: true });
  };
  const address = `127.0.0.1:${server.port}`;
  const baseUrl = `http://${address}`;
  let localToken: string;
  try {
    localToken = await readTokenFile(tokenPath(dataDir));
  } catch (error) {
    // A server without its token file would otherwise outlive the failed test and keep the run from ending.
    await stop();
    throw error;
  }
  const grpc = (token?: string | null) =>
    createGrpcTransport({
      baseUrl,
      interceptors:
        token === undefined || token === null
          ? []
          : [
              (next) => (req) => {
                req.header.set("authorization", `Bearer ${token}`);
                return next(req);
              },
            ],
    });
  return {
    server,
    log,
    address,
    dataDir,
    grpc,
    connectHttp1: () => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
    hashFinder: (transport = grpc()) => createClient(HashFinder, transport),
    localToken,
    todo: (token = localToken) => createClient(TodoService, grpc(token)),
    callLog: (method, outcome) =>
      log.waitFor(
        (e) => e.event === "call" && e.method === method && (outcome === undefined || e.outcome === outcome),
      ),
    nextCallLog: (method, timeoutMs = 20_000) =>
      log.waitForNext((e) => e.event === "call" && e.method === method, timeoutMs),
    close: stop,
  };
}
