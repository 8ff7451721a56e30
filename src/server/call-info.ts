/**
 * What the server knows about one call beyond Connect's HandlerContext: the peer, whether its connection has
 * gone, and what the handler reports for the log (candidates searched, why it ended the call itself).
 */

import type { IncomingMessage } from "node:http";
import { constants, type Http2ServerRequest } from "node:http2";
import { type ContextValues, createContextKey, createContextValues } from "@connectrpc/connect";

export type Cause = "client-cancelled" | "deadline" | "disconnected" | "budget" | "shutdown" | "limits";

export interface CallInfo {
  /** "address:port" of the client's connection: the unit of --max-per-client. */
  readonly peer: string;
  /** performance.now() when the request's headers were handled: where the server's view of the deadline starts. */
  readonly receivedAt: number;
  /**
   * True for HTTP/2, where a client ends one call by resetting its stream; over HTTP/1.1 closing the connection
   * is the only way, so a closed connection there says nothing about why (a browser's deadline closes it too).
   */
  readonly http2: boolean;
  /** True once the client's connection (TCP socket, or HTTP/2 session) is closed. */
  connectionClosed(): boolean;
  /** True when the client reset the HTTP/2 stream with CANCEL: an explicit cancel, whatever followed it. */
  cancelledByClient(): boolean;
  /** Set by handlers: candidates searched, for the log line. */
  candidates?: number;
  /** Set by handlers that end a call for a reason of their own (budget, limits). */
  cause?: Cause;
  /** Set by handlers for the log line: how many messages were streamed. */
  messages?: number;
  /**
   * Set when the logging interceptor takes the call. Connect refuses some requests before any interceptor runs (a
   * message over readMaxBytes, one it cannot decode, an unsupported encoding); the node handler logs those.
   */
  intercepted?: boolean;
}

export const callInfoKey = createContextKey<CallInfo | undefined>(undefined, {
  description: "cancelkit call",
});

/** Builds the context values for one incoming request (connectNodeAdapter's `contextValues`). */
export function callContextValues(req: IncomingMessage | Http2ServerRequest): ContextValues {
  const receivedAt = performance.now();
  const socket = req.socket;
  const session = "stream" in req ? req.stream.session : undefined;
  // Node closes every stream with CANCEL when the connection closes, so the reset code alone cannot tell a
  // client's cancel from a dropped connection; what can is whether the socket was still open when the stream
  // was aborted: a peer's RST_STREAM is handled while its socket is alive, even if the client exits right after.
  let resetWhileConnected = false;
  if ("stream" in req) {
    req.stream.once("aborted", () => {
      // session.socket forwards to the TCP socket (req.socket's `destroyed` would be the stream's own).
      resetWhileConnected = session?.socket?.destroyed === false;
    });
  }
  const info: CallInfo = {
    peer: `${socket.remoteAddress ?? "unknown"}:${socket.remotePort ?? 0}`,
    receivedAt,
    http2: "stream" in req,
    // The TCP socket too: when it closes, Node resets the session's streams before it marks the session destroyed,
    // and a call's signal aborts at that reset (reset-signal.ts).
    connectionClosed: () =>
      session ? session.closed || session.destroyed || session.socket?.destroyed === true : socket.destroyed,
    cancelledByClient: () =>
      "stream" in req && resetWhileConnected && req.stream.rstCode === constants.NGHTTP2_CANCEL,
  };
  return createContextValues().set(callInfoKey, info);
}

/** The call's info, for handlers; a fresh one when a handler runs outside the server (never in production). */
export function callInfo(values: ContextValues): CallInfo {
  return (
    values.get(callInfoKey) ?? {
      peer: "unknown",
      receivedAt: performance.now(),
      http2: false,
      connectionClosed: () => false,
      cancelledByClient: () => false,
    }
  );
}
