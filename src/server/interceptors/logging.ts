/**
 * One JSON log line per call, written when the call really ends (for streams: when the response stream ends),
 * with the outcome classified in one place: ok, or the status code, and for cancellations the cause.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { type Cause, callInfo } from "../call-info.ts";
import type { CallTracker } from "../call-tracker.ts";
import { requestTimeoutMs } from "../deadline.ts";
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

/**
 * How early a client's deadline may end a call, seen from the server, when the client started its timer before
 * sending the request (connect-node, connect-web: connection setup and transit come out of the timeout): 10 % of
 * the timeout, at least 50 ms. Such clients end the call in a way that cannot be mistaken for a cancel from the
 * user: connect-node resets with INTERNAL_ERROR, a browser over HTTP/1.1 closes the connection.
 */
function deadlineTolerance(timeoutMs: number): number {
  return Math.max(50, timeoutMs / 10);
}

/**
 * The same for a reset with CANCEL or a dropped HTTP/2 connection, which is also how a user's cancel or a dying
 * client looks. Clients that reset with CANCEL at their deadline (grpc-go, grpcio) compute `grpc-timeout` when they
 * send the headers, so their reset reaches us one timeout after the headers did, give or take scheduling jitter:
 * 50 ms at most, and never more than a quarter of the timeout, so that a short timeout does not swallow every
 * cancel.
 */
function resetTolerance(timeoutMs: number): number {
  return Math.min(50, timeoutMs / 4);
}

/** Milliseconds since `started` (performance.now()), to 0.01 ms: every call line's durationMs. */
export function durationSince(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
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
    info.intercepted = true;
    const endCall = calls.begin();
    let finished = false;
    // When the call was aborted, and whether its connection was already gone, judged at that moment: by the time a
    // stream's handler has unwound, later events (our own timer, a connection that was fine at the abort closing
    // too) would blur what happened first.
    let abortedAfterMs: number | undefined;
    let closedWhenAborted: boolean | undefined;
    const onAbort = () => {
      abortedAfterMs = performance.now() - info.receivedAt;
      closedWhenAborted = info.connectionClosed();
    };
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener("abort", onAbort, { once: true });

    /** Why a call that ended with an error or early return ended, judged by what happened, not by the reason. */
    const causeOf = (code: Code): Cause | undefined => {
      if (info.cause) return info.cause;
      if (!req.signal.aborted) return undefined;
      if (shutdownSignal.aborted) return "shutdown";
      // A client that cancels and then exits (grpc-go's CLI pattern) resets the stream, then closes the
      // connection: the reset came first, and it is what the client meant.
      const reset = info.cancelledByClient();
      const closed = closedWhenAborted ?? info.connectionClosed();
      // Deadlines reach us as DEADLINE_EXCEEDED (our timer: the abort comes at the timeout) or as the client's
      // reset, depending on who fires first, and the client's may fire a little early on our clock. How early
      // depends on how the call ended: an explicit reset or a dropped HTTP/2 connection before that is a cancel.
      if (timeoutMs !== undefined) {
        const tolerance =
          reset || (closed && info.http2) ? resetTolerance(timeoutMs) : deadlineTolerance(timeoutMs);
        const afterMs = abortedAfterMs ?? performance.now() - info.receivedAt;
        if (afterMs >= timeoutMs - tolerance) return "deadline";
      }
      if (reset) return "client-cancelled";
      if (closed) return "disconnected";
      return code === Code.DeadlineExceeded ? "deadline" : "client-cancelled";
    };

    const finish = (error: unknown, endedEarly: boolean) => {
      if (finished) return;
      finished = true;
      req.signal.removeEventListener("abort", onAbort);
      endCall();
      // Connect answers an error that is no ConnectError (a bug, an I/O error of the store) as INTERNAL "internal
      // error", after the interceptors; ConnectError.from would call it UNKNOWN and lose it from the log.
      const connectError =
        error === undefined
          ? undefined
          : error instanceof ConnectError || req.signal.aborted
            ? ConnectError.from(error)
            : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
      // A write that failed because the connection was destroyed under it (write ECANCELED: the end of shutdown
      // closes what is left, e.g. a stream whose client stopped reading, which no status can reach past flow
      // control) answered nothing: the client saw the stream reset with CANCEL, or its connection close.
      const torn =
        error !== undefined &&
        !(error instanceof ConnectError) &&
        req.signal.aborted &&
        info.connectionClosed();
      const thrown = torn ? Code.Canceled : (connectError?.code ?? (endedEarly ? Code.Canceled : undefined));
      const cause = thrown === undefined ? undefined : causeOf(thrown);
      // A connect-node client's deadline resets the stream with INTERNAL_ERROR: report
      // the cancellation, not the transport's code.
      const code = (cause && CANCELLATION_CODES[cause]) ?? thrown;
      const fields = {
        method: `${req.service.typeName}/${req.method.name}`,
        peer: info.peer,
        outcome: code === undefined ? "ok" : STATUS_NAMES[code],
        cause,
        candidates: info.candidates,
        messages: info.messages,
        durationMs: durationSince(started),
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
