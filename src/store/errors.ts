/**
 * Store errors that src/errors.ts does not (yet) have. Tasks use `notFound` from src/errors.ts.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { notFound } from "../errors.ts";

/** The task does not exist for this user (whether or not it exists for another). */
export function taskNotFound(id: bigint): ConnectError {
  return notFound(`task ${id}`);
}

/** A user name that is already taken (from `createUser`, i.e. `cancelkit users add`). */
export function alreadyExists(what: string): ConnectError {
  return new ConnectError(`${what} already exists`, Code.AlreadyExists);
}

/** The store was closed (server shutting down); the call never ran. Internal, not meant for clients. */
export function storeClosed(): Error {
  return new Error("task store is closed");
}
