/**
 * A call's signal that aborts as soon as Node reads the client's RST_STREAM, rather than when Connect hears of it.
 *
 * Connect aborts the signal of an HTTP/2 call from the request's "close" event, which Node emits a turn of its
 * own later, once the stream is destroyed; the reason it then builds, a ConnectError, captures a stack. Timed
 * through the server with a grpc-go client cancelling a search (docs/performance.md), from the reset's write to
 * the handler's signal took 0.27–0.35 ms at the median, of which the stream's "aborted" event (emitted while
 * Node handles the frame) to "close" was 0.04–0.05 ms and building Connect's error 0.07 ms. Every cancel, and so
 * the search it stops, waits for that.
 *
 * So the signal handed to Connect is ours: it aborts on the stream's "aborted" event with the error Connect
 * would give for that reset code (built without a stack: the stack of a frame's arrival says nothing), and
 * otherwise whenever Connect's own signal aborts, with Connect's reason. HTTP/1.1 requests keep Connect's signal.
 */
import type { IncomingMessage } from "node:http";
import { constants, type Http2ServerRequest } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";

/** The status Connect gives each HTTP/2 reset code (connect-node's connectErrorFromH2ResetCode); others: none. */
const RESET_STATUS = new Map<number, { name: string; code: Code }>([
  [constants.NGHTTP2_PROTOCOL_ERROR, { name: "PROTOCOL_ERROR", code: Code.Internal }],
  [constants.NGHTTP2_INTERNAL_ERROR, { name: "INTERNAL_ERROR", code: Code.Internal }],
  [constants.NGHTTP2_FLOW_CONTROL_ERROR, { name: "FLOW_CONTROL_ERROR", code: Code.Internal }],
  [constants.NGHTTP2_SETTINGS_TIMEOUT, { name: "SETTINGS_TIMEOUT", code: Code.Internal }],
  [constants.NGHTTP2_FRAME_SIZE_ERROR, { name: "FRAME_SIZE_ERROR", code: Code.Internal }],
  [constants.NGHTTP2_REFUSED_STREAM, { name: "REFUSED_STREAM", code: Code.Unavailable }],
  [constants.NGHTTP2_CANCEL, { name: "CANCEL", code: Code.Canceled }],
  [constants.NGHTTP2_COMPRESSION_ERROR, { name: "COMPRESSION_ERROR", code: Code.Internal }],
  [constants.NGHTTP2_CONNECT_ERROR, { name: "CONNECT_ERROR", code: Code.Internal }],
  [constants.NGHTTP2_ENHANCE_YOUR_CALM, { name: "ENHANCE_YOUR_CALM", code: Code.ResourceExhausted }],
  [constants.NGHTTP2_INADEQUATE_SECURITY, { name: "INADEQUATE_SECURITY", code: Code.PermissionDenied }],
  [constants.NGHTTP2_HTTP_1_1_REQUIRED, { name: "HTTP_1_1_REQUIRED", code: Code.PermissionDenied }],
]);

/** The reason a reset with `rstCode` aborts a call with, as Connect words it; undefined for NO_ERROR and the like. */
export function resetReason(rstCode: number): ConnectError | undefined {
  const status = RESET_STATUS.get(rstCode);
  if (status === undefined) return undefined;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new ConnectError(
      `http/2 stream closed with error code ${status.name} (0x${rstCode.toString(16)})`,
      status.code,
    );
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** `uReq` with a signal that also aborts when the HTTP/2 stream of `req` is reset (see above). */
export function abortOnReset(
  req: IncomingMessage | Http2ServerRequest,
  uReq: UniversalServerRequest,
): UniversalServerRequest {
  const connectSignal = uReq.signal;
  if (!("stream" in req) || connectSignal.aborted) return uReq;
  const stream = req.stream;
  const controller = new AbortController();
  const onReset = () => {
    // A reset without a status of its own (NO_ERROR) is left to Connect, which aborts without a reason.
    const reason = resetReason(stream.rstCode);
    if (reason !== undefined) controller.abort(reason);
  };
  const onConnectAbort = () => {
    stream.off("aborted", onReset);
    controller.abort(connectSignal.reason);
  };
  stream.once("aborted", onReset);
  connectSignal.addEventListener("abort", onConnectAbort, { once: true });
  return { ...uReq, signal: controller.signal };
}
