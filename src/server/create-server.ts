/**
 * Builds and starts the server: one port (h2c + HTTP/1.1), the routes, the interceptors, the worker pool, and a
 * graceful shutdown that is a signal, not a special path.
 */
import { createServer as createHttp1Server, type ServerResponse } from "node:http";
import { createServer as createHttp2Server, type Http2Session } from "node:http2";
import { createServer as createNetServer, type Socket } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { refTimeout } from "../abort.ts";
import { shuttingDown } from "../errors.ts";
import { HashFinder } from "../gen/hash_name/hash_name_pb.ts";
import { TodoService } from "../gen/todo/v2/todo_pb.ts";
import { SearchPool } from "../pool/pool.ts";
import { registerGrpcExtras } from "../services/grpc-extras.ts";
import { createHashFinder } from "../services/hash-finder.ts";
import { HealthState, ServingStatus } from "../services/health.ts";
import { createTodoService, type TodoServiceOptions } from "../services/todo.ts";
import { ensureLocalUser } from "../store/bootstrap.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import type { TaskStore } from "../store/task-store.ts";
import { callContextValues } from "./call-info.ts";
import { CallTracker } from "./call-tracker.ts";
import { createAuthInterceptor } from "./interceptors/auth.ts";
import { createLoggingInterceptor } from "./interceptors/logging.ts";
import type { Logger } from "./log.ts";
import { createNodeHandler } from "./node-handler.ts";
import type { ServerOptions } from "./options.ts";
import { routeConnection } from "./protocol-mux.ts";

export interface CancelkitServer {
  /** Where the server listens (the real port when options.port was 0). */
  readonly host: string;
  readonly port: number;
  readonly pool: SearchPool;
  readonly calls: CallTracker;
  /** The task store, owned by the server: closed at the end of shutdown, after the calls have drained. */
  readonly store: TaskStore;
  /** Aborted (with UNAVAILABLE) when shutdown gives up waiting; every call's signal is linked to it. */
  readonly shutdownSignal: AbortSignal;
  /**
   * Stops accepting, lets running calls finish for up to `graceMs`, then ends the rest with UNAVAILABLE
   * ("server shutting down"), closes every connection, the pool and the store. Idempotent.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/** How long calls get to unwind after the shutdown signal aborts them, before connections are destroyed. */
const UNWIND_MS = 1000;

/**
 * RST_STREAMs a client may send on one connection: a burst, then so many a second (nghttp2's guard against the
 * "rapid reset" attack, CVE-2023-44487). Node's defaults, 1,000 then 33 a second, answer a client that cancels
 * more than that with GOAWAY INTERNAL_ERROR, failing every call on its connection; cancelling is what our
 * clients do. These allow a client 1,000 cancels a second (our benchmark's clients cancel about 100 a second
 * each), and still cut off a client that resets streams by the tens of thousands.
 */
const STREAM_RESET_BURST = 10_000;
const STREAM_RESET_RATE_PER_SECOND = 1_000;

/** Streams one connection may have open at once; clients queue the rest (Node's default has no limit). */
const MAX_CONCURRENT_STREAMS = 1000;

/**
 * The largest header list (metadata) a call may send, stated in SETTINGS so that clients refuse a larger one
 * themselves (grpc-go: INTERNAL "header list size to send violates the maximum size (65536 bytes) set by server").
 * Unstated, Node advertises no limit, but nghttp2 cannot decode a header field over 64 KiB and ends the whole
 * connection (GOAWAY COMPRESSION_ERROR): 200 KB of metadata on one call failed every call on its connection.
 */
const MAX_HEADER_LIST_BYTES = 65_536;

/** The largest request message read (4 MiB, grpc-go's and grpcio's default for what a server receives). */
export const MAX_REQUEST_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Waits until no call is in progress, or `ms` has passed. */
async function waitForCalls(calls: CallTracker, ms: number): Promise<void> {
  const timeout = refTimeout(ms);
  await calls.whenIdle(timeout.signal).catch(() => {});
  timeout.clear();
}

/** Waits until every connection has closed on its own, or `ms` has passed. */
async function waitForSockets(sockets: Set<Socket>, ms: number): Promise<void> {
  const timeout = refTimeout(ms);
  await Promise.race([
    Promise.all([...sockets].map((socket) => new Promise((resolve) => socket.once("close", resolve)))),
    new Promise((resolve) => timeout.signal.addEventListener("abort", resolve, { once: true })),
  ]);
  timeout.clear();
}

/** What a caller may supply instead of the defaults; for benchmarks and tests. */
export interface ServerDependencies {
  /**
   * The task store to serve instead of the SQLite store in `options.dataDir` (e.g. a MemoryTaskStore as a
   * benchmark baseline). The server takes ownership: it closes the store at the end of shutdown.
   */
  store?: TaskStore;
  /** The search workers' entry module instead of the real one; for tests (a fixture that crashes on demand). */
  workerUrl?: URL;
  /** The SQLite store's writer thread module instead of the real one; for tests (a fixture that dies on demand). */
  storeWriterUrl?: URL;
  /** UpdateTasks memory limits other than the defaults (update-memory.ts); for tests. */
  todoLimits?: Pick<TodoServiceOptions, "maxUpdateBytesPerStream" | "maxHeldUpdateBytes">;
}

/**
 * Opens the store (SQLite in `options.dataDir` unless one is given), creates the local user and its token file
 * on first start, then listens. Rejects (closing what it opened) if the store cannot be opened or the port
 * cannot be bound.
 */
export async function startServer(
  options: ServerOptions,
  log: Logger,
  dependencies: ServerDependencies = {},
): Promise<CancelkitServer> {
  const health = new HealthState();
  const store =
    dependencies.store ??
    (await openSqliteStore(options.dataDir, {
      writerUrl: dependencies.storeWriterUrl,
      // Every write is refused from now on.
      onBroken: (reason) => reportBroken(log, health, "store", TodoService.typeName, reason.message),
    }));
  try {
    await ensureLocalUser(new AbortController().signal, store, options.dataDir, (event, fields) =>
      log.info(event, fields),
    );
    return await listen(options, log, store, health, dependencies);
  } catch (error) {
    await store.close();
    throw error;
  }
}

/**
 * A part the server cannot do without stopped working (the search pool, the store's writer): says so in an error
 * log line and where probes look, `service` and "" NOT_SERVING, so that the process gets restarted.
 */
function reportBroken(log: Logger, health: HealthState, part: string, service: string, error: string): void {
  log.error(part, { phase: "broken", error });
  health.set(service, ServingStatus.NOT_SERVING);
  health.set("", ServingStatus.NOT_SERVING);
}

async function listen(
  options: ServerOptions,
  log: Logger,
  store: TaskStore,
  health: HealthState,
  dependencies: ServerDependencies,
): Promise<CancelkitServer> {
  const pool = new SearchPool({
    workers: options.workers,
    yieldEveryMs: options.workerYieldMs,
    stopWaitMs: options.stopWaitMs,
    maxRunning: options.maxRunning,
    maxQueued: options.maxQueued,
    maxPerClient: options.maxPerClient,
    workerUrl: dependencies.workerUrl,
    // Every search is refused from now on.
    onBroken: (reason) =>
      reportBroken(log, health, "pool", HashFinder.typeName, String(reason.cause ?? reason)),
  });
  const calls = new CallTracker();
  const shutdownController = new AbortController();

  const routes = (router: ConnectRouter) => {
    router.service(HashFinder, createHashFinder({ pool, maximumHashes: options.maximumHashes }));
    router.service(TodoService, createTodoService({ store, ...dependencies.todoLimits }));
    // grpc.health.v1 and server reflection, so probes and grpcurl-style tools work without local .proto files.
    registerGrpcExtras(router, [HashFinder, TodoService], health);
  };
  const handler = createNodeHandler({
    log,
    routes,
    shutdownSignal: shutdownController.signal,
    contextValues: callContextValues,
    // gRPC's usual limit for a received message (Connect's default is 4 GiB, all of it buffered before any
    // field is checked): a larger one is refused with RESOURCE_EXHAUSTED as soon as its length prefix is read.
    readMaxBytes: MAX_REQUEST_MESSAGE_BYTES,
    // Logging outermost, so that calls refused by auth are logged too.
    interceptors: [
      createLoggingInterceptor({ log, calls, shutdownSignal: shutdownController.signal }),
      createAuthInterceptor({ store, services: [TodoService.typeName] }),
    ],
    fallback(_req, res) {
      res.statusCode = 404;
      res.setHeader("content-type", "text/plain; charset=utf-8");
      res.end(
        "cancelkit: no such route. gRPC services: hash_name.HashFinder, todo.v2.TodoService, " +
          "grpc.health.v1.Health, grpc.reflection.v1.ServerReflection\n",
      );
    },
  });

  const h2 = createHttp2Server(
    {
      streamResetBurst: STREAM_RESET_BURST,
      streamResetRate: STREAM_RESET_RATE_PER_SECOND,
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, maxHeaderListSize: MAX_HEADER_LIST_BYTES },
    },
    handler,
  );
  // HTTP/1.1's GOAWAY: once shutdown starts, every response not yet begun says `connection: close`, so that the
  // client sends its next call elsewhere instead of on a connection that is about to close.
  let draining = false;
  const unansweredH1 = new Set<ServerResponse>();
  const endKeepAlive = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader("connection", "close");
  };
  const h1 = createHttp1Server((req, res) => {
    if (draining) endKeepAlive(res);
    else {
      unansweredH1.add(res);
      res.once("close", () => unansweredH1.delete(res));
    }
    handler(req, res);
  });
  // This server gets its sockets from the mux and never listens itself, and Node starts tracking its connections
  // (headersTimeout and requestTimeout, closeIdleConnections) only on "listening".
  h1.emit("listening");
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  h2.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    // A session error (client reset) is reported through its streams; unhandled it would crash the process.
    session.on("error", () => {});
    // A connection accepted before shutdown that told its protocol only after: GOAWAY before its first stream.
    if (draining) session.close();
  });
  const net = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    routeConnection(socket, h2, h1);
  });

  await new Promise<void>((resolve, reject) => {
    const onListenError = (error: Error) => {
      // The pool's workers would keep the process alive; the caller closes the store.
      void pool.close(error);
      reject(error);
    };
    net.once("error", onListenError);
    net.listen(options.port, options.host, () => {
      net.off("error", onListenError);
      resolve();
    });
  });
  const address = net.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  log.info("listening", {
    host: options.host,
    port,
    workers: options.workers,
    workerYieldMs: options.workerYieldMs,
    workerPauses: pool.pausing,
    stopWaitMs: options.stopWaitMs,
    movesLateWorkers: pool.movesLateWorkers,
    maximumHashes: options.maximumHashes,
    dataDir: options.dataDir,
    // Which process serves, and with which Node and V8 flags (`cancelkit serve` and `npm start` add the server's).
    pid: process.pid,
    nodeFlags: process.execArgv.join(" "),
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = options.graceMs): Promise<void> => {
    stopping ??= (async () => {
      // Health watchers learn NOT_SERVING and their streams end, so they do not hold the drain for the grace.
      health.enterShutdown();
      log.info("shutdown", { phase: "draining", activeCalls: calls.active, graceMs });
      draining = true;
      for (const res of unansweredH1) endKeepAlive(res);
      const closed = new Promise<void>((resolve) => net.close(() => resolve()));
      // GOAWAY: clients start no new streams on these sessions; running ones go on.
      for (const session of sessions) session.close();
      h1.closeIdleConnections();
      await waitForCalls(calls, graceMs);
      if (calls.active > 0) {
        log.info("shutdown", { phase: "aborting", activeCalls: calls.active });
        shutdownController.abort(shuttingDown());
        await waitForCalls(calls, UNWIND_MS);
      }
      // Closed sessions end once their streams have flushed their last messages and trailers; wait for that.
      // close() also stops the HTTP/1.1 connection checks ("not running" is all its listen socket can say).
      h1.close(() => {});
      await waitForSockets(sockets, UNWIND_MS);
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await closed;
      await pool.close(shuttingDown());
      // Last: every call has ended, so no write is lost and none is half-done; close() commits what is queued.
      await store.close();
      log.info("shutdown", { phase: "done" });
    })();
    return stopping;
  };

  return {
    host: options.host,
    port,
    pool,
    calls,
    store,
    shutdownSignal: shutdownController.signal,
    shutdown,
  };
}
