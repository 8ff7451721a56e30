/** One exit code and one line per way a call can fail, so scripts can tell them apart. */
import { Code, ConnectError } from "@connectrpc/connect";

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  invalidArgument: 3,
  deadline: 4,
  resourceExhausted: 5,
  unreachable: 6,
  notFound: 7,
  unauthenticated: 8,
  alreadyExists: 9,
  cancelled: 130,
  /** SIGHUP (the terminal closed) cancelled the call, as Ctrl-C does: the shell's 128 + 1. */
  hungUp: 129,
  /** SIGTERM (a supervisor, `timeout`, `kill PID`) cancelled the call, as Ctrl-C does: the shell's 128 + 15. */
  terminated: 143,
  /** stdout's reader closed the pipe (`| head`): the call was cancelled; the shell's SIGPIPE convention. */
  outputClosed: 141,
} as const;

/**
 * Maps an RPC error to an exit code and a one-line message for stderr. `interrupted`: the person pressed Ctrl-C.
 * Otherwise a CANCELLED is not theirs: a connection the server dropped (it crashed, a proxy cut it) reaches
 * connect-node as CANCELLED, or, when the socket's reset is read first, as ABORTED caused by ECONNRESET (or a
 * destroyed stream); both are reported as the server's doing.
 */
export function describeFailure(
  error: unknown,
  server: string,
  interrupted: boolean,
): { code: number; message: string } {
  const e = ConnectError.from(error);
  const connectionLost = {
    code: EXIT.unreachable,
    message: `server at ${server} ended the call: ${e.rawMessage}`,
  };
  switch (e.code) {
    case Code.Canceled:
      return interrupted ? { code: EXIT.cancelled, message: "cancelled" } : connectionLost;
    case Code.Aborted:
      // connect-node's code for a transport error under a running call (a Node error with a system code as its
      // cause); an ABORTED a server sent has no such cause.
      if (!interrupted && (e.cause as NodeJS.ErrnoException | undefined)?.code !== undefined)
        return connectionLost;
      return { code: EXIT.failed, message: `error (${Code[e.code]}): ${e.rawMessage}` };
    case Code.Internal:
      // node:http2's error for bytes that are no HTTP/2 (ERR_HTTP2_ERROR, "Protocol error"): what answers there is
      // no h2c server, most often an HTTP/1.1 one. It read "error (Internal): Protocol error", exit 1.
      if ((e.cause as NodeJS.ErrnoException | undefined)?.code === "ERR_HTTP2_ERROR") {
        return {
          code: EXIT.unreachable,
          message: `server at ${server} does not speak gRPC over HTTP/2 without TLS: ${e.rawMessage}`,
        };
      }
      return { code: EXIT.failed, message: `error (${Code[e.code]}): ${e.rawMessage}` };
    case Code.DeadlineExceeded:
      return { code: EXIT.deadline, message: `deadline exceeded: ${e.rawMessage}` };
    case Code.InvalidArgument:
      return { code: EXIT.invalidArgument, message: `invalid argument: ${e.rawMessage}` };
    case Code.ResourceExhausted:
      return { code: EXIT.resourceExhausted, message: `resource exhausted: ${e.rawMessage}` };
    case Code.NotFound:
      return { code: EXIT.notFound, message: `not found: ${e.rawMessage}` };
    case Code.AlreadyExists:
      return { code: EXIT.alreadyExists, message: `already exists: ${e.rawMessage}` };
    case Code.Unauthenticated:
      return { code: EXIT.unauthenticated, message: `unauthenticated: ${e.rawMessage}` };
    case Code.Unavailable:
      return {
        code: EXIT.unreachable,
        // A server that is shutting down answered: it was reached, and it ended the call (the README's words).
        message: /shutting down/.test(e.rawMessage)
          ? `server at ${server} ended the call: ${e.rawMessage}`
          : `server unreachable at ${server}: ${e.rawMessage}`,
      };
    default:
      return { code: EXIT.failed, message: `error (${Code[e.code]}): ${e.rawMessage}` };
  }
}
