/**
 * The catalogue of errors that leave the server. Each message is written once here and names the field or the
 * limit concerned; handlers throw these, and anything else becomes `Internal` with its cause logged, never sent.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** Most characters of a client's value a message or a log line quotes back. */
export const MAX_QUOTED_CHARS = 100;

/**
 * A client's value quoted in an error message, cut to its first 100 characters. gRPC sends the message in a
 * header (grpc-message), and an echoed value of any length made it one no client takes: a 10,000-character mask
 * path reached grpcio as RESOURCE_EXHAUSTED "received initial metadata size exceeds limit", a 70,000-character one
 * as RST_STREAM FRAME_SIZE_ERROR (INTERNAL), while the log said INVALID_ARGUMENT.
 */
export function quoted(value: string): string {
  const chars = [...value];
  if (chars.length <= MAX_QUOTED_CHARS) return JSON.stringify(value);
  return `${JSON.stringify(chars.slice(0, MAX_QUOTED_CHARS).join(""))}… (${chars.length} characters)`;
}

/** A request field failed validation: INVALID_ARGUMENT naming the field. */
export function invalidField(field: string, why: string): ConnectError {
  return new ConnectError(`${field}: ${why}`, Code.InvalidArgument);
}

/**
 * Marks budget errors (a call's budget, or the whole candidate space for a call without one), so the log can say
 * cause=budget without matching on the message.
 */
const BUDGET = Symbol("budget exhausted");

/** The search went through its per-call hash budget without an ideal answer. */
export function budgetExhausted(budget: number): ConnectError {
  return new ConnectError(
    `search budget exhausted: maximum-hashes=${budget} candidates searched without an ideal match`,
    Code.ResourceExhausted,
    undefined,
    undefined,
    BUDGET,
  );
}

/**
 * A search without a budget went through every candidate the server numbers, [0, size), without an ideal answer:
 * the same ending as a budget of `size`, so RESOURCE_EXHAUSTED with the budget's mark.
 */
export function searchSpaceExhausted(size: number): ConnectError {
  return new ConnectError(
    `search space exhausted: all ${size} candidates of the server's candidate space searched without an ideal match`,
    Code.ResourceExhausted,
    undefined,
    undefined,
    BUDGET,
  );
}

/** True for budgetExhausted and searchSpaceExhausted. */
export function isBudgetExhausted(error: unknown): boolean {
  return error instanceof ConnectError && error.cause === BUDGET;
}

/** The server's queue is full: the call never started. */
export function serverFull(maxQueued: number): ConnectError {
  return new ConnectError(`server busy: queue limit max-queued=${maxQueued} reached`, Code.ResourceExhausted);
}

/** This client already has its share of running and queued calls. */
export function clientOverShare(maxPerClient: number): ConnectError {
  return new ConnectError(
    `too many calls from this client: max-per-client=${maxPerClient} running or queued`,
    Code.ResourceExhausted,
  );
}

/** The reason the shutdown signal aborts with: calls still running after the grace period end with it. */
export function shuttingDown(): ConnectError {
  return new ConnectError("server shutting down", Code.Unavailable);
}

/** Missing or unknown credentials. */
export function unauthenticated(why: string): ConnectError {
  return new ConnectError(why, Code.Unauthenticated);
}

/** A record that does not exist for this caller (never reveals whether it exists for someone else). */
export function notFound(what: string): ConnectError {
  return new ConnectError(`${what} not found`, Code.NotFound);
}

/** A client stream sent more messages than one call may carry: RESOURCE_EXHAUSTED naming the limit. */
export function tooManyMessages(what: string, limit: number): ConnectError {
  return new ConnectError(`too many ${what} in one stream: the limit is ${limit}`, Code.ResourceExhausted);
}

/** A client stream would hold more bytes than one call may: RESOURCE_EXHAUSTED naming the limit. */
export function tooManyBytes(what: string, limit: number): ConnectError {
  return new ConnectError(
    `too many bytes of ${what} in one stream: the limit is ${limit} bytes`,
    Code.ResourceExhausted,
  );
}

/** The open UpdateTasks streams together hold as much as the server allows: retry once some have ended. */
export function updateMemoryFull(limit: number): ConnectError {
  return new ConnectError(
    `server busy: open UpdateTasks streams hold the server-wide limit of ${limit} bytes of updates`,
    Code.ResourceExhausted,
  );
}
