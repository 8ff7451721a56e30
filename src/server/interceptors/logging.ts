/**
 * One JSON log line per call, written when the call really ends (for streams: when the response stream ends),
 * with the outcome classified in one place: ok, or the status code, and for cancellations the cause.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import { type Cause, callInfo } from "../call-info.ts";
import type { CallTracker } from "../call-tracker.ts";
import type { Logger } from "../log.ts";

/** gRPC's canonical names for status codes, as grpcio and grpc-go print them. */
export const STATUS_NAMES: Record<Code, string> = {
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The client's deadline in ms from the request headers (gRPC or Connect), if it sent one. */
function requestTimeoutMs(header: Headers): number | undefined {
  const grpc = parseGrpcTimeout(header.get("grpc-timeout"), MAX_TIMEOUT_MS);
  if (grpc.timeoutMs !== undefined) return grpc.timeoutMs;
  return parseConnectTimeout(header.get("connect-timeout-ms"), MAX_TIMEOUT_MS).timeoutMs;
}

/** How early a client-side deadline may fire, seen from the server: 10 % of the timeout, at least 50 ms. */
function deadlineTolerance(timeoutMs: number): number {
  return Math.max(50, timeoutMs / 10);
}

/** The status a cancellation is reported as, whatever code the client's RST_STREAM happened to carry. */
const CANCELLATION_CODES: Partial<Record<Cause, Code>> = {
  "client-cancelled": Code.Canceled,
  disconnected: Code.Canceled,
  deadline: Code.DeadlineExceeded,
};

export interface LoggingInterceptorOptions {
  log: Logger;
  calls: CallTracker;
  shutdownSignal: AbortSignal;
}

export function createLoggingInterceptor({
  log,
  calls,
  shutdownSignal,
}: LoggingInterceptorOptions): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const timeoutMs = requestTimeoutMs(req.header);
    const info = callInfo(req.contextValues);
    const endCall = calls.begin();
    let finished = false;
    // Whether the connection was already gone when the call was aborted, judged at that moment: by the time a
    // stream's handler has unwound, a connection that was fine at the abort may have closed too.
    let closedWhenAborted: boolean | undefined;
    const onAbort = () => {
      closedWhenAborted = info.connectionClosed();
    };
    req.signal.addEventListener("abort", onAbort, { once: true });

    /** Why a call that ended with an error or early return ended, judged by what happened, not by the reason. */
    const causeOf = (code: Code): Cause | undefined => {
      if (info.cause) return info.cause;
      if (!req.signal.aborted) return undefined;
      if (shutdownSignal.aborted) return "shutdown";
      // Deadlines reach us as DEADLINE_EXCEEDED (our timer) or as a client RST, depending on who fires first;
      // the client's clock started before ours (connection setup, transit), hence the tolerance.
      if (
        timeoutMs !== undefined &&
        performance.now() - started >= timeoutMs - deadlineTolerance(timeoutMs)
      ) {
        return "deadline";
      }
      // A client that cancels and then exits (grpc-go's CLI pattern) resets the stream, then closes the
      // connection: the reset came first, and it is what the client meant.
      if (info.cancelledByClient()) return "client-cancelled";
      if (closedWhenAborted ?? info.connectionClosed()) return "disconnected";
      return code === Code.DeadlineExceeded ? "deadline" : "client-cancelled";
    };

    const finish = (error: unknown, endedEarly: boolean) => {
      if (finished) return;
      finished = true;
      req.signal.removeEventListener("abort", onAbort);
      endCall();
      const connectError = error === undefined ? undefined : ConnectError.from(error);
      const thrown = connectError?.code ?? (endedEarly ? Code.Canceled : undefined);
      const cause = thrown === undefined ? undefined : causeOf(thrown);
      // A connect-node client's deadline resets the stream with INTERNAL_ERROR (CONNECT-NOTES §8.3): report
      // the cancellation, not the transport's code.
      const code = (cause && CANCELLATION_CODES[cause]) ?? thrown;
      const fields = {
        method: `${req.service.typeName}/${req.method.name}`,
        peer: info.peer,
        outcome: code === undefined ? "ok" : STATUS_NAMES[code],
        cause,
        candidates: info.candidates,
        messages: info.messages,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        // Internal errors keep their detail in the log only; the client sees "internal error".
        error: code === Code.Internal ? String(connectError?.cause ?? connectError?.message) : undefined,
      };
      if (code === Code.Internal) log.error("call", fields);
      else log.info("call", fields);
    };

    try {
      const res = await next(req);
      if (!res.stream) {
        finish(undefined, false);
        return res;
      }
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          let completed = false;
          try {
            yield* messages;
            completed = true;
          } catch (error) {
            finish(error, false);
            throw error;
          } finally {
            // A stream the framework stopped early (client gone, or cancelled) ends here without completing.
            finish(undefined, !completed);
          }
        })(),
      };
    } catch (error) {
      finish(error, false);
      throw error;
    }
  };
}
