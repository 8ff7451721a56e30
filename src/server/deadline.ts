/**
 * The client's deadline, as its request headers state it, and the longest one the server can time. Node's timers
 * hold at most 2^31−1 ms (about 24.8 days) and fire after 1 ms instead when asked for more
 * (TimeoutOverflowWarning), so a 30-day `grpc-timeout` would end its call at once with DEADLINE_EXCEEDED.
 */
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import { MAX_TIMER_MS } from "../abort.ts";

/** Where each protocol carries the deadline: gRPC and gRPC-Web in `grpc-timeout`, Connect in ms. */
const TIMEOUT_HEADERS = [
  ["grpc-timeout", parseGrpcTimeout],
  ["connect-timeout-ms", parseConnectTimeout],
] as const;

/** The client's deadline in ms from the request headers, if it sent a valid one (however long). */
export function requestTimeoutMs(header: Headers): number | undefined {
  for (const [name, parse] of TIMEOUT_HEADERS) {
    const { timeoutMs } = parse(header.get(name), Number.POSITIVE_INFINITY);
    if (timeoutMs !== undefined) return timeoutMs;
  }
  return undefined;
}

/**
 * Removes a deadline too far away to time, so that Connect runs the call without a server-side deadline. The
 * client still ends the call at its own deadline (it resets the stream). Connect's `maxTimeoutMs` option would
 * refuse such a call with INVALID_ARGUMENT, which no gRPC client expects for a valid header; clamping to the
 * longest timer would end it with DEADLINE_EXCEEDED before the client's deadline, just later. grpc-go's server
 * comes to the same: it clamps a deadline it cannot represent to its longest duration (292 years).
 */
export function dropUntimeableDeadline(header: Headers): void {
  for (const [name, parse] of TIMEOUT_HEADERS) {
    const { timeoutMs } = parse(header.get(name), Number.POSITIVE_INFINITY);
    if (timeoutMs !== undefined && timeoutMs > MAX_TIMER_MS) header.delete(name);
  }
}
