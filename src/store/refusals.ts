/**
 * Errors of the store that need no RPC library: a write refused on the store's own terms (no such task, a name
 * taken), carrying the gRPC status it stands for, and the closed store. The SQLite writer thread builds only
 * these, so that it does not load Connect (about 170 ms of every store's start on this machine); errors.ts turns
 * them into ConnectErrors for the rest of the server.
 */

/** gRPC status codes, as numbers: the same on every gRPC implementation. */
export const GRPC_NOT_FOUND = 5;
export const GRPC_ALREADY_EXISTS = 6;

/** A write the store refuses: GroupCommit rejects it alone and the rest of its batch goes on. */
export class WriteRefused extends Error {
  readonly grpcCode: number;

  constructor(message: string, grpcCode: number) {
    super(message);
    this.name = "WriteRefused";
    this.grpcCode = grpcCode;
  }
}

/** The task does not exist for this user (whether or not it exists for another). */
export function taskNotFoundRefusal(id: bigint): WriteRefused {
  return new WriteRefused(`task ${id} not found`, GRPC_NOT_FOUND);
}

/** A name that is already taken (from `createUser`, i.e. `cancelkit users add`). */
export function alreadyExistsRefusal(what: string): WriteRefused {
  return new WriteRefused(`${what} already exists`, GRPC_ALREADY_EXISTS);
}

/** The store was closed (server shutting down); the call never ran. Internal, not meant for clients. */
export function storeClosed(): Error {
  return new Error("task store is closed");
}
