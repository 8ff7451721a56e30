/**
 * A gRPC call written by hand over node:http2, for what a generated client will not do: an invalid :authority, a
 * `grpc-timeout` without a client-side timer, a RST_STREAM at a moment the test chooses.
 */
import type {
  ClientHttp2Session,
  ClientHttp2Stream,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
} from "node:http2";

export interface RawGrpcResult {
  /** grpc-status from the trailers (or from the headers of a trailers-only response). */
  status: string | undefined;
  /** grpc-message, percent-decoded. */
  message: string | undefined;
  headers: IncomingHttpHeaders;
  /** The response messages, without their 5-byte prefixes. */
  messages: Buffer[];
}

export interface RawGrpcCall {
  readonly stream: ClientHttp2Stream;
  /** Sends one message with its gRPC prefix (uncompressed). */
  send(message: Uint8Array): void;
  /**
   * Resolves once the server has ended its side (trailers received) or the stream has closed, whichever way. A
   * stream the client has not ended stays open after the server's trailers, as in any gRPC client until it
   * reads them: close it (`stream.close()`) when done.
   */
  readonly result: Promise<RawGrpcResult>;
}

/** A gRPC length-prefixed message (uncompressed). */
export function grpcFrame(message: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** Starts a call to `path` on `session`; `headers` may override the pseudo-headers too (":authority"). */
export function rawGrpcCall(
  session: ClientHttp2Session,
  path: string,
  headers: OutgoingHttpHeaders = {},
): RawGrpcCall {
  const stream = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    ...headers,
  });
  stream.on("error", () => {}); // a reset is an outcome the test reads from `result`
  let responseHeaders: IncomingHttpHeaders = {};
  let trailers: IncomingHttpHeaders = {};
  const chunks: Buffer[] = [];
  stream.on("response", (h) => {
    responseHeaders = h;
  });
  stream.on("trailers", (t) => {
    trailers = t;
  });
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  const result = new Promise<RawGrpcResult>((resolve) => {
    const settle = () => {
      const body = Buffer.concat(chunks);
      const messages: Buffer[] = [];
      for (let at = 0; at + 5 <= body.length; ) {
        const length = body.readUInt32BE(at + 1);
        messages.push(body.subarray(at + 5, at + 5 + length));
        at += 5 + length;
      }
      const status = trailers["grpc-status"] ?? responseHeaders["grpc-status"];
      const message = trailers["grpc-message"] ?? responseHeaders["grpc-message"];
      resolve({
        status: status === undefined ? undefined : String(status),
        message: message === undefined ? undefined : decodeURIComponent(String(message)),
        headers: responseHeaders,
        messages,
      });
    };
    stream.once("end", settle);
    stream.once("close", settle);
  });
  return { stream, send: (message) => stream.write(grpcFrame(message)), result };
}
