/**
 * The checks the grpc-go and grpcio suites share: the reference's answers as a client reports them, and what the
 * server must show whatever client called. Each stack spells the client-side codes its own way (ClientStack).
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { REFERENCE_FIND_RANGE } from "../helpers/reference-answers.ts";
import type { TestServer } from "../helpers/server.ts";
import { waitUntil } from "../helpers/wait.ts";
import type { ProbeProcess } from "./probe-process.ts";

/** A probe's JSON line (both probes print one; fields depend on the scenario). */
type ProbeReply = Record<string, unknown>;

/** Runs a probe scenario to its end and returns its reply. */
type RunProbe = (scenario: string[]) => Promise<ProbeReply>;

export const FIND = "hash_name.HashFinder/Find";

/** A client stack's name for messages, and how it spells the status codes the shared checks expect. */
export interface ClientStack {
  name: string;
  codes: { deadlineExceeded: string; invalidArgument: string };
}

/** A Find reply that gives the reference's secret within the ideal distance. */
export function assertReferenceFind(r: ProbeReply, ideal: number, secret: string): void {
  assert.equal(r.code, "OK", JSON.stringify(r));
  assert.equal(r.secret, secret);
  assert.ok(Number(r.hamming_distance) <= ideal);
  assert.equal(String(r.hashed_name).length, 28);
}

/** The probe's summary of FindRange("doctor", 1, 3): the reference's count, first five and last responses. */
export function assertReferenceFindRange(r: ProbeReply): void {
  const { count, firstSecrets, last } = REFERENCE_FIND_RANGE;
  assert.equal(r.code, "OK", JSON.stringify(r));
  assert.equal(r.count, count);
  assert.deepEqual(r.first_five, firstSecrets);
  assert.deepEqual(r.last, { secret: last.secret, hamming_distance: last.distance });
}

/** Waits until the probe's search runs on the server; fails if the probe exited first. */
export async function untilProbeSearching(s: TestServer, p: ProbeProcess<unknown>): Promise<void> {
  const exited = () => p.child.exitCode !== null || p.child.signalCode !== null;
  // `running` too: workers may still hold slices of the previous test's search, which has ended (seen in CI: the
  // probe was told to cancel before its call reached the server, and no call was ever logged).
  const searching = () => {
    const stats = s.server.pool.stats();
    return stats.running > 0 && stats.busyWorkers > 0;
  };
  await waitUntil("the search is running (or the probe exited)", () => searching() || exited(), 30_000);
  assert.ok(!exited(), "the probe ended before it was told to cancel");
}

/**
 * A never-matching Find under the probe's 300 ms deadline: the client gives up at its deadline, not before; the
 * pool goes idle and the call's log line says deadline.
 */
export async function checkDeadline(
  t: TestContext,
  s: TestServer,
  run: RunProbe,
  stack: ClientStack,
): Promise<void> {
  const logged = s.nextCallLog(FIND);
  const r = await run(["deadline", "300"]);
  assert.equal(r.code, stack.codes.deadlineExceeded, JSON.stringify(r));
  assert.ok(Number(r.ms) >= 250, `${stack.name} gave up after ${r.ms} ms, before its 300 ms deadline`);
  t.diagnostic(`${stack.name} saw ${stack.codes.deadlineExceeded} after ${r.ms} ms`);
  await s.server.pool.whenIdle();
  assert.equal(s.server.pool.stats().running, 0);
  const line = await logged;
  assert.equal(line.cause, "deadline", JSON.stringify(line));
  t.diagnostic(`server logged ${line.outcome} after ${line.durationMs} ms`);
  // Who fires first decides the code the server logs: its own timer (DEADLINE_EXCEEDED) or the client's
  // RST_STREAM (CANCELLED).
  assert.ok(["DEADLINE_EXCEEDED", "CANCELLED"].includes(String(line.outcome)), JSON.stringify(line));
}

/** Find with an empty desired_name: INVALID_ARGUMENT whose message names the field, and no search started. */
export async function checkEmptyName(s: TestServer, run: RunProbe, stack: ClientStack): Promise<void> {
  const started = s.server.pool.stats().slicesStarted;
  const r = await run(["invalid"]);
  assert.equal(r.code, stack.codes.invalidArgument, JSON.stringify(r));
  assert.match(String(r.details), /^desired_name:/);
  assert.equal(s.server.pool.stats().slicesStarted, started);
}
