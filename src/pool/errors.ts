/** Errors the pool produces besides the catalogue's limits and budget (src/errors.ts). */
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * A search that failed inside the pool (kernel exception, crashed worker): INTERNAL, with a fixed message; the
 * detail stays in `cause` for the log and is never sent to the client.
 */
export function searchFailed(cause: unknown): ConnectError {
  return new ConnectError("internal error", Code.Internal, undefined, undefined, cause);
}
