/**
 * connectNodeAdapter, with its one console.error replaced by our structured log. Connect's adapter prints
 * "handler for rpc … failed" to stderr when writing a response fails, which happens every time a client
 * cancels a stream mid-write (write ECANCELED): normal here, already recorded by the call's log line, and
 * not a JSON line. Everything else is Connect's own code path (same router, request and response helpers), with
 * two guards in front: a request whose authority is not a valid URL is refused instead of crashing the process,
 * and a deadline too far away for Node's timers is dropped instead of firing at once (deadline.ts).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
  createConnectRouter,
} from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { callInfo } from "./call-info.ts";
import { dropUntimeableDeadline } from "./deadline.ts";
import type { Logger } from "./log.ts";
import { abortOnReset } from "./reset-signal.ts";
import {
  answerUnknownMethod,
  explainUnserved,
  grpcContentType,
  logRefusedCall,
  refuseRequest,
} from "./unserved.ts";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

export interface NodeHandlerOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  contextValues: (req: NodeRequest) => ContextValues;
  fallback: (req: NodeRequest, res: NodeResponse) => void;
  log: Logger;
}

const ACCEPTED_COMPRESSION = [compressionGzip, compressionBrotli];
const ACCEPTED_ENCODINGS = new Set(["identity", ...ACCEPTED_COMPRESSION.map((c) => c.name)]);
const ACCEPT_ENCODING_HEADER = [...ACCEPTED_ENCODINGS].join(",");

/**
 * The gRPC spec asks a server that refuses a message's compression (UNIMPLEMENTED) to list the ones it takes in
 * `grpc-accept-encoding`, so that a client can choose again; Connect says so in the message only.
 */
function advertiseEncodings(uRes: UniversalServerResponse, req: NodeRequest): UniversalServerResponse {
  const encoding = req.headers["grpc-encoding"];
  if (typeof encoding !== "string" || ACCEPTED_ENCODINGS.has(encoding)) return uRes;
  const header = new Headers(uRes.header);
  header.set("grpc-accept-encoding", ACCEPT_ENCODING_HEADER);
  return { ...uRes, header };
}

export function createNodeHandler(
  options: NodeHandlerOptions,
): (req: NodeRequest, res: NodeResponse) => void {
  const router = createConnectRouter({ acceptCompression: ACCEPTED_COMPRESSION, ...options });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const services = new Set(router.handlers.map((h) => h.service.typeName));
  return (req, res) => {
    const path = req.url?.split("?", 2)[0] ?? "";
    const handler = handlers.get(path);
    if (!handler) {
      const grpcType = grpcContentType(req);
      if (grpcType === undefined) options.fallback(req, res);
      else
        answerUnknownMethod(
          req,
          res,
          grpcType,
          path,
          services,
          callInfo(options.contextValues(req)).peer,
          options.log,
        );
      return;
    }
    const contextValues = options.contextValues(req);
    const info = callInfo(contextValues);
    let uReq: UniversalServerRequest;
    try {
      // Builds the call's URL from the client's Host or :authority, and throws if that is not a valid authority
      // (`x:99999`, `a b`): uncaught in a request listener, one such request would end the process.
      uReq = universalRequestFromNodeRequest(req, res, undefined, contextValues);
    } catch (reason) {
      refuseRequest(
        req,
        res,
        info.peer,
        "invalid authority (Host or :authority header)",
        reason,
        options.log,
      );
      return;
    }
    uReq = abortOnReset(req, uReq);
    dropUntimeableDeadline(uReq.header);
    const started = performance.now();
    handler(uReq)
      .then(async (answer) => {
        let uRes = answer;
        // Connect answered without running any interceptor (message over readMaxBytes, undecodable, unsupported
        // encoding): its status is already in the response, so log it now, before writing, which may wait for
        // a client still sending the refused body.
        if (!info.intercepted) {
          const method = `${handler.service.typeName}/${handler.method.name}`;
          uRes = advertiseEncodings(explainUnserved(uRes, req, method, handler.method.methodKind), req);
          uRes = await logRefusedCall(options.log, method, info.peer, uRes, started);
        }
        return universalResponseToNodeResponse(uRes, res);
      })
      .catch((reason: unknown) => {
        // The client went away while we wrote: the call's own log line already says why. Over HTTP/1.1 the write
        // fails (ECANCELED) a moment before Node reports the close that aborts the signal: the socket says it first.
        if (uReq.signal.aborted || info.connectionClosed() || ConnectError.from(reason).code === Code.Aborted)
          return;
        options.log.warn("response", {
          method: `${handler.service.typeName}/${handler.method.name}`,
          error: String(reason),
        });
      });
  };
}
