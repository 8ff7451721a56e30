/**
 * The store's errors as the RPC layer answers them. Their text and codes are defined once, in refusals.ts, which
 * the SQLite writer thread uses without Connect.
 */
import { ConnectError } from "@connectrpc/connect";
import { alreadyExistsRefusal, taskNotFoundRefusal, type WriteRefused } from "./refusals.ts";

export { storeClosed } from "./refusals.ts";

/** A refused write as the ConnectError a client gets: the same message and code. */
export function connectErrorOf(refusal: WriteRefused): ConnectError {
  return new ConnectError(refusal.message, refusal.grpcCode);
}

/** The task does not exist for this user (whether or not it exists for another). */
export function taskNotFound(id: bigint): ConnectError {
  return connectErrorOf(taskNotFoundRefusal(id));
}

/** A user name that is already taken (from `createUser`, i.e. `cancelkit users add`). */
export function alreadyExists(what: string): ConnectError {
  return connectErrorOf(alreadyExistsRefusal(what));
}
