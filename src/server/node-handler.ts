/**
 * connectNodeAdapter, with its one console.error replaced by our structured log. Connect's adapter prints
 * "handler for rpc … failed" to stderr when writing a response fails, which happens every time a client
 * cancels a stream mid-write (write ECANCELED): normal here, already recorded by the call's log line, and
 * not a JSON line. Everything else is Connect's own code path (same router, request and response helpers).
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
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { Logger } from "./log.ts";

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

export interface NodeHandlerOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  contextValues: (req: NodeRequest) => ContextValues;
  fallback: (req: NodeRequest, res: NodeResponse) => void;
  log: Logger;
}

export function createNodeHandler(
  options: NodeHandlerOptions,
): (req: NodeRequest, res: NodeResponse) => void {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = handlers.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      options.fallback(req, res);
      return;
    }
    const uReq = universalRequestFromNodeRequest(req, res, undefined, options.contextValues(req));
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        // The client went away while we wrote: the call's own log line already says why.
        if (uReq.signal.aborted || ConnectError.from(reason).code === Code.Aborted) return;
        options.log.warn("response", {
          method: `${handler.service.typeName}/${handler.method.name}`,
          error: String(reason),
        });
      });
  };
}
