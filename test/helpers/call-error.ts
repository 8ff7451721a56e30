import assert from "node:assert/strict";
import { ConnectError } from "@connectrpc/connect";

/** The ConnectError a call ended with; fails if the call succeeded. */
export async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  assert.fail("the call succeeded but an error was expected");
}
