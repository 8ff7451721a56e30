/** How the CLI reports a call that failed: which exit code, which line on stderr. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { describeFailure } from "../../src/cli/exit-codes.ts";

const SERVER = "127.0.0.1:50051";

test("a connection lost mid-call is the server's doing, however connect-node reports it; a server's ABORTED is not", () => {
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  const asAborted = new ConnectError("read ECONNRESET", Code.Aborted, undefined, undefined, reset);
  const asCancelled = new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled);
  for (const error of [asAborted, asCancelled]) {
    assert.deepEqual(describeFailure(error, SERVER, false), {
      code: 6,
      message: `server at ${SERVER} ended the call: ${error.rawMessage}`,
    });
  }
  assert.deepEqual(describeFailure(asCancelled, SERVER, true), { code: 130, message: "cancelled" });
  const sent = new ConnectError("conflict", Code.Aborted);
  assert.deepEqual(describeFailure(sent, SERVER, false), { code: 1, message: "error (Aborted): conflict" });
});
