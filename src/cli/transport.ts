/** Client transport from the CLI's --server flag: gRPC over h2c, like grpcio and grpc-go. */
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { UsageError } from "./usage-error.ts";

export const DEFAULT_SERVER = "127.0.0.1:50051";

export function transportFor(server: string): Transport {
  if (!/^[\w.-]+:\d{1,5}$|^\[[\da-fA-F:]+\]:\d{1,5}$/.test(server)) {
    throw new UsageError(`--server: "${server}" must be HOST:PORT, e.g. ${DEFAULT_SERVER}`);
  }
  return createGrpcTransport({ baseUrl: `http://${server}` });
}
