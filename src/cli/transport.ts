/** Client transport from the CLI's --server flag: gRPC over h2c, like grpcio and grpc-go. */
import { connect, type Socket } from "node:net";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { DAY_MS, type DurationRange, parseDuration } from "../duration.ts";
import { parseFlags, UsageError } from "./usage-error.ts";

export const DEFAULT_SERVER = "127.0.0.1:50051";

/**
 * --timeout: from 1 ms to a day. Connect sends it as the grpc-timeout header "<ms>m", which holds at most 8 digits
 * (99999999m ≈ 27.8 h; more is a protocol error at the server), and it treats 0 ms as no deadline at all.
 */
export const TIMEOUT_RANGE: DurationRange = { minMs: 1, maxMs: DAY_MS };

/** The call deadline from --timeout, in whole ms (undefined: none); a bad value is a UsageError naming the flag. */
export function parseTimeout(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseFlags(() => parseDuration(text, "--timeout", TIMEOUT_RANGE));
}

export function transportFor(server: string): Transport {
  const usage = new UsageError(`--server: "${server}" must be HOST:PORT, e.g. ${DEFAULT_SERVER}`);
  if (!/^[\w.-]+:\d{1,5}$|^\[[\da-fA-F:]+\]:\d{1,5}$/.test(server)) throw usage;
  // The pattern lets through a port over 65535, or 0, and addresses the URL parser refuses (256.0.0.1, [::1::]):
  // they ended as "cancelkit: Invalid URL", or "unreachable" for port 0, without naming the flag.
  const port = Number(server.slice(server.lastIndexOf(":") + 1));
  if (port < 1 || port > 65535 || !URL.canParse(`http://${server}`)) throw usage;
  return createGrpcTransport({
    baseUrl: `http://${server}`,
    // TCP_NODELAY, as grpc-go and grpcio set it: without it Nagle's algorithm can hold a small RST_STREAM (a
    // cancel) behind unacknowledged data, which showed as milliseconds in the cancel-latency tail.
    nodeOptions: { createConnection: (url: URL) => connectNoDelay(url) },
  });
}

function connectNoDelay(url: URL): Socket {
  return connect({ host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port), noDelay: true });
}
