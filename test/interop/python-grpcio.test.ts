/**
 * Python grpcio (the reference client's stack) against a real cancelkit server over h2c: the reference's answers,
 * and the cancellation contract seen from both ends — grpcio's status code, and on the server the pool going idle
 * and the call log's cause. Skipped, with the reason, when no python3 with grpcio is installed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { INTEROP_FINDS, REFERENCE_FIND_RANGE } from "../helpers/reference-answers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { runToEnd } from "./probe-process.ts";
import { findGrpcioPython, type Probe, type ProbeResult, startProbe } from "./python-probe.ts";
import {
  assertReferenceFind,
  assertReferenceFindRange,
  type ClientStack,
  checkDeadline,
  checkEmptyName,
  FIND,
  untilProbeSearching,
} from "./shared-checks.ts";

const STACK: ClientStack = {
  name: "grpcio",
  codes: { deadlineExceeded: "DEADLINE_EXCEEDED", invalidArgument: "INVALID_ARGUMENT" },
};
const lookup = findGrpcioPython();

// CI installs grpcio and sets this, so that a broken install fails the run instead of silently skipping.
if (lookup.skip !== undefined && process.env.CANCELKIT_REQUIRE_INTEROP === "1") {
  test("grpcio interop is required (CANCELKIT_REQUIRE_INTEROP=1)", () => assert.fail(lookup.skip));
}

describe("grpcio (Python) client", { skip: lookup.skip ?? false }, () => {
  const python = lookup.python ?? "";
  let s: TestServer;
  const probes: Probe[] = [];
  before(async () => {
    // No hash budget: the never-matching searches run until cancelled or out of time.
    s = await startTestServer({ maximumHashes: 0 });
  });
  after(async () => {
    for (const probe of probes) probe.kill();
    await s.close();
  });

  /** Starts the probe and registers it to be stopped even if the test fails before it ends. */
  function probe(scenario: string[]): Probe {
    const started = startProbe(python, s.address, scenario);
    probes.push(started);
    return started;
  }

  function run(scenario: string[]): Promise<ProbeResult> {
    return runToEnd(probe(scenario));
  }

  for (const [name, ideal, secret] of INTEROP_FINDS) {
    test(`Find("${name}", ${ideal}) → the reference's secret "${secret}"`, async () => {
      assertReferenceFind(await run(["find", name, String(ideal)]), ideal, secret);
    });
  }

  test('FindRange("doctor", 1, 3) streams the reference\'s 663 responses', async () => {
    const { name, ideal, interesting } = REFERENCE_FIND_RANGE;
    assertReferenceFindRange(await run(["find-range", name, String(ideal), String(interesting)]));
  });

  test("future.cancel() while the search runs → CANCELLED; the pool goes idle; log cause client-cancelled", async (t) => {
    const p = probe(["cancel"]);
    try {
      const logged = s.nextCallLog(FIND);
      await untilProbeSearching(s, p);
      const told = performance.now();
      p.child.stdin?.write("go\n");
      const idle = s.server.pool.whenIdle().then(() => performance.now() - told);
      const r = await p.result;
      assert.equal(r.code, "CANCELLED", JSON.stringify(r));
      assert.equal(r.result_raised, "FutureCancelledError");
      assert.equal(r.cancel_returned, true, "the call was still running when the client cancelled it");
      t.diagnostic(`pool idle ${(await idle).toFixed(1)} ms after "go" was written to the probe`);
      assert.equal(s.server.pool.stats().running, 0);
      const line = await logged;
      // Not asserted: line.candidates, which counts only candidates committed in order; a cancel this quick can
      // come before the first slice commits, and the line then says 0 although the workers were hashing.
      assert.deepEqual([line.outcome, line.cause], ["CANCELLED", "client-cancelled"], JSON.stringify(line));
    } finally {
      p.kill();
    }
  });

  test("timeout=0.3 s → DEADLINE_EXCEEDED; the pool goes idle; log cause deadline", (t) =>
    checkDeadline(t, s, run, STACK));

  test("empty desired_name → INVALID_ARGUMENT whose details name the field; nothing started", () =>
    checkEmptyName(s, run, STACK));
});
