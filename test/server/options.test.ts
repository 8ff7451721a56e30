import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_STOP_WAIT_MS, DEFAULT_YIELD_EVERY_MS } from "../../src/pool/pool.ts";
import { defaultServerOptions, resolveServerOptions, serverHelp } from "../../src/server/options.ts";

describe("server options", () => {
  test("--worker-yield-ms takes a number of ms, 0 to turn pausing off, and defaults to the pool's", () => {
    assert.equal(defaultServerOptions().workerYieldMs, DEFAULT_YIELD_EVERY_MS);
    assert.equal(resolveServerOptions({ workerYieldMs: "0.25" }).workerYieldMs, 0.25);
    assert.equal(resolveServerOptions({ workerYieldMs: "0" }).workerYieldMs, 0);
    assert.equal(resolveServerOptions({ workerYieldMs: "2" }).workerYieldMs, 2);
    assert.match(serverHelp(), /--worker-yield-ms MS .*\n.*\n\s+0 = never \(default 0\.05\)/);
  });

  test("a bad --worker-yield-ms is a RangeError that names the flag", () => {
    for (const bad of ["", "-1", "abc", "1e3", "0.5ms", "1001", "NaN"]) {
      assert.throws(
        () => resolveServerOptions({ workerYieldMs: bad }),
        (error: unknown) => error instanceof RangeError && error.message.startsWith("--worker-yield-ms:"),
        `"${bad}"`,
      );
    }
  });

  // --max-running defaults to 4 × workers: the workers the user chose, not the CPU count the default was made of.
  test("--workers without --max-running sets it to 4 × workers; an explicit --max-running wins", () => {
    assert.equal(resolveServerOptions({ workers: "3" }).maxRunning, 12);
    assert.equal(resolveServerOptions({ workers: "3", maxRunning: "5" }).maxRunning, 5);
    assert.equal(resolveServerOptions({ maxRunning: "5", workers: "3" }).maxRunning, 5);
  });

  test("an empty --host is refused, not taken as every interface", () => {
    for (const bad of ["", " "]) {
      assert.throws(
        () => resolveServerOptions({ host: bad }),
        new RangeError("--host: must not be empty (0.0.0.0 or :: listens on every interface)"),
      );
    }
    assert.equal(resolveServerOptions({ host: "::1" }).host, "::1");
  });

  test("an empty --data-dir is refused naming the flag, not tried as a directory", () => {
    for (const bad of ["", " "]) {
      assert.throws(
        () => resolveServerOptions({ dataDir: bad }),
        new RangeError("--data-dir: must not be empty"),
      );
    }
  });

  test("--stop-wait-ms takes a number of ms, 0 to never wait, and defaults to the pool's", () => {
    assert.equal(defaultServerOptions().stopWaitMs, DEFAULT_STOP_WAIT_MS);
    assert.equal(resolveServerOptions({ stopWaitMs: "0.5" }).stopWaitMs, 0.5);
    assert.equal(resolveServerOptions({ stopWaitMs: "0" }).stopWaitMs, 0);
    assert.match(serverHelp(), /--stop-wait-ms MS .*\n.*0 = never \(default 1\)/);
    for (const bad of ["", "-1", "soon", "101"]) {
      assert.throws(
        () => resolveServerOptions({ stopWaitMs: bad }),
        new RangeError(`--stop-wait-ms: "${bad}" must be a number from 0 to 100`),
      );
    }
  });
});
