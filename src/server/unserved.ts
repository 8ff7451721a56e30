/**
 * Answers, and call lines, for requests no handler of ours runs: a gRPC call to a method or service not served, a
 * request whose authority is not a URL, and what Connect refuses before any interceptor (a method that is not
 * POST, a content type it does not speak, a message over readMaxBytes). Each gets a status and words that say
 * what was wrong, and a log line, like any call.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createAsyncIterable, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeFromHttpStatus, errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { MAX_QUOTED_CHARS } from "../errors.ts";
import { durationSince, STATUS_NAMES } from "./interceptors/logging.ts";
import type { Logger } from "./log.ts";
import type { NodeRequest, NodeResponse } from "./node-handler.ts";

/**
 * A gRPC call to a method or service not served: UNIMPLEMENTED naming it, trailers-only, as gRPC servers answer
 * (grpc-go's words). The 404 page reached grpcio and grpc-go as UNIMPLEMENTED "HTTP status 404", naming neither,
 * and grpcio logged an error about its text/plain content-type. Logged as a call line like any other.
 */
export function answerUnknownMethod(
  req: NodeRequest,
  res: NodeResponse,
  grpcType: string,
  path: string,
  services: ReadonlySet<string>,
  peer: string,
  log: Logger,
): void {
  const named = path.slice(1, MAX_QUOTED_CHARS + 1);
  const [service = "", method = ""] = named.split("/", 2);
  const message = services.has(service)
    ? `unknown method ${method} for service ${service}`
    : `unknown service ${service}`;
  log.info("call", {
    method: named,
    peer,
    outcome: STATUS_NAMES[Code.Unimplemented],
    error: message,
  });
  req.resume(); // the body is not wanted; drain it so the connection can go on
  answerGrpcError(res, grpcType, Code.Unimplemented, message);
}

/**
 * Answers a request that never reaches Connect, and logs one warn line. gRPC and gRPC-Web get INVALID_ARGUMENT
 * with our message in a trailers-only response (HTTP 200, grpc-status in the one HEADERS frame), the form gRPC
 * servers use for an error before any message: an HTTP 400 would reach a gRPC client as INTERNAL "HTTP 400",
 * which reads like a server fault. Anything else (Connect, browsers, curl) gets HTTP 400 with the message as text.
 */
export function refuseRequest(
  req: NodeRequest,
  res: NodeResponse,
  peer: string,
  why: string,
  reason: unknown,
  log: Logger,
): void {
  const authority = ("authority" in req ? req.authority : req.headers.host)?.slice(0, MAX_QUOTED_CHARS);
  const message = `${why}: ${JSON.stringify(authority ?? null)}`;
  log.warn("request", {
    outcome: "refused",
    path: req.url?.slice(0, MAX_QUOTED_CHARS),
    peer,
    error: message,
    detail: String(reason),
  });
  req.resume(); // the body is not wanted; drain it so the connection can go on
  const grpcType = grpcContentType(req);
  if (grpcType !== undefined) {
    answerGrpcError(res, grpcType, Code.InvalidArgument, message);
    return;
  }
  res.statusCode = 400;
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.end(`${message}\n`);
}

/** The request's gRPC or gRPC-Web content type without its suffix (`application/grpc`), if it is one. */
export function grpcContentType(req: NodeRequest): string | undefined {
  const grpc = /^(application\/grpc(?:-web(?:-text)?)?)(?:[+;]|$)/i.exec(req.headers["content-type"] ?? "");
  return grpc?.[1]?.toLowerCase();
}

/** A trailers-only gRPC error: HTTP 200, grpc-status and grpc-message in the one HEADERS frame. */
function answerGrpcError(res: NodeResponse, contentType: string, code: Code, message: string): void {
  res.statusCode = 200;
  res.setHeader("content-type", contentType);
  res.setHeader("grpc-status", String(code));
  // Percent-encoded, as gRPC requires of grpc-message; encoding more than it needs decodes just the same.
  res.setHeader("grpc-message", encodeURIComponent(message));
  res.end();
}

/** The content types each kind of method is served with, for the text of a 415. */
const CONTENT_TYPES = {
  unary:
    "application/json or application/proto (Connect), application/grpc or application/grpc+json (gRPC), " +
    "application/grpc-web or application/grpc-web+json (gRPC-Web)",
  streaming:
    "application/connect+json or application/connect+proto (Connect streaming), application/grpc or " +
    "application/grpc+json (gRPC), application/grpc-web or application/grpc-web+json (gRPC-Web)",
};

/**
 * Connect answers a request it does not take (a method that is not POST, a content type none of its protocols
 * speaks, a bidi stream over HTTP/1.1) with the bare HTTP status and an empty body; curl showed a blank 415 for
 * `content-type: application/json` to a streaming method, which needs application/connect+json. This adds a
 * line of text that says what the method takes (and `Allow` to a 405).
 */
export function explainUnserved(
  uRes: UniversalServerResponse,
  req: NodeRequest,
  method: string,
  kind: DescMethod["methodKind"],
): UniversalServerResponse {
  if (uRes.body !== undefined) return uRes;
  const header = new Headers(uRes.header);
  let text: string;
  switch (uRes.status) {
    case 405:
      header.set("allow", "POST");
      text = `${method} is called with POST, not ${req.method}`;
      break;
    case 415: {
      const sent = (req.headers["content-type"] ?? "").slice(0, MAX_QUOTED_CHARS);
      const accepted = kind === "unary" ? CONTENT_TYPES.unary : CONTENT_TYPES.streaming;
      text = `unsupported content-type ${JSON.stringify(sent)}: ${method} takes ${accepted}`;
      if (/^application\/grpc-web-text/i.test(sent)) text += "; gRPC-Web text mode is not served";
      break;
    }
    case 505:
      text = `${method} is a bidirectional stream: it needs HTTP/2 (gRPC, or Connect over HTTP/2)`;
      break;
    default:
      return uRes;
  }
  header.set("content-type", "text/plain; charset=utf-8");
  return { ...uRes, header, body: createAsyncIterable([new TextEncoder().encode(`${text}\n`)]) };
}

/**
 * The call line of a request Connect answered without running any interceptor (message over readMaxBytes,
 * undecodable, unsupported encoding), so that every call still has one. Its status is the one sent: grpc-status
 * (gRPC, gRPC-Web: in the trailers, or the headers of a trailers-only answer), else, for a Connect unary error,
 * the code in its JSON body. Returns the response to write (the same, with its body read back in if it was read).
 */
export async function logRefusedCall(
  log: Logger,
  method: string,
  peer: string,
  uRes: UniversalServerResponse,
  started: number,
): Promise<UniversalServerResponse> {
  const trailer = new Headers(uRes.trailer);
  const header = new Headers(uRes.header);
  const grpcStatus = trailer.get("grpc-status") ?? header.get("grpc-status");
  let answer = uRes;
  let code: Code | undefined;
  let message: string | undefined;
  if (grpcStatus !== null) {
    code = Number(grpcStatus) === 0 ? undefined : (Number(grpcStatus) as Code);
    const sent = trailer.get("grpc-message") ?? header.get("grpc-message");
    message = sent === null ? undefined : decodeURIComponent(sent);
  } else if (uRes.status !== 200) {
    // A Connect unary error: the HTTP status is shared by several codes (429 reads back as UNAVAILABLE, not the
    // RESOURCE_EXHAUSTED that was sent); the code is in the body, one small JSON chunk already in memory.
    const chunks: Uint8Array[] = [];
    for await (const chunk of uRes.body ?? []) chunks.push(chunk);
    answer = { ...uRes, body: createAsyncIterable(chunks) };
    const fallback = new ConnectError(`HTTP ${uRes.status}`, codeFromHttpStatus(uRes.status));
    const body = Buffer.concat(chunks);
    // A refusal explainUnserved put in words is logged with those words.
    const explained = header.get("content-type")?.startsWith("text/plain")
      ? new ConnectError(body.toString("utf8").trim(), fallback.code)
      : undefined;
    const sent = explained ?? (header.has("content-encoding") ? fallback : errorOf(body, fallback));
    code = sent.code;
    message = sent.rawMessage;
  }
  log.info("call", {
    method,
    peer,
    outcome: code === undefined ? "ok" : STATUS_NAMES[code],
    durationMs: durationSince(started),
    error: message,
  });
  return answer;
}

/** The error a Connect error body states, or `fallback` if it states none. */
function errorOf(body: Uint8Array, fallback: ConnectError): ConnectError {
  try {
    return errorFromJsonBytes(body, undefined, fallback);
  } catch {
    return fallback;
  }
}
