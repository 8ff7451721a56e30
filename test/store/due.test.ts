import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { compareDue, dueFromMillis, dueProblem, isOverdue, validateDue } from "../../src/store/due.ts";
import { descriptionProblem, MAX_DESCRIPTION_LENGTH, validateDescription } from "../../src/store/limits.ts";

const now = { seconds: 1_700_000_000n, nanos: 500_000_000 };

describe("due dates", () => {
  test("compareDue orders by seconds, then nanos, exactly", () => {
    assert.ok(compareDue({ seconds: 1n, nanos: 999_999_999 }, { seconds: 2n, nanos: 0 }) < 0);
    assert.ok(compareDue({ seconds: 2n, nanos: 1 }, { seconds: 2n, nanos: 0 }) > 0);
    assert.equal(compareDue({ seconds: 2n, nanos: 7 }, { seconds: 2n, nanos: 7 }), 0);
    // Beyond 2^53 nanoseconds-as-float precision: differ by one nanosecond only.
    assert.ok(
      compareDue(
        { seconds: 253_402_300_799n, nanos: 999_999_998 },
        { seconds: 253_402_300_799n, nanos: 999_999_999 },
      ) < 0,
    );
  });

  test("dueFromMillis splits a clock reading exactly, also before 1970", () => {
    assert.deepEqual(dueFromMillis(1_700_000_000_123), { seconds: 1_700_000_000n, nanos: 123_000_000 });
    assert.deepEqual(dueFromMillis(-1), { seconds: -1n, nanos: 999_000_000 });
  });

  test("overdue = has a due date, not done, strictly before now", () => {
    const past = { seconds: now.seconds, nanos: now.nanos - 1 };
    assert.equal(isOverdue({ done: false, due: past }, now), true);
    assert.equal(isOverdue({ done: true, due: past }, now), false);
    assert.equal(isOverdue({ done: false, due: now }, now), false);
    assert.equal(isOverdue({ done: false }, now), false);
  });

  test("dueProblem: missing, bad nanos, out of Timestamp range, past; now itself is accepted", () => {
    assert.equal(dueProblem(undefined, now), "is required");
    assert.match(dueProblem({ seconds: 2_000_000_000n, nanos: 1_000_000_000 }, now) ?? "", /nanos/);
    assert.match(dueProblem({ seconds: 2_000_000_000n, nanos: -1 }, now) ?? "", /nanos/);
    assert.match(dueProblem({ seconds: 253_402_300_800n, nanos: 0 }, now) ?? "", /9999/);
    assert.match(dueProblem({ seconds: now.seconds, nanos: now.nanos - 1 }, now) ?? "", /past/);
    assert.equal(dueProblem(now, now), undefined);
    assert.equal(dueProblem({ seconds: 253_402_300_799n, nanos: 999_999_999 }, now), undefined);
  });

  test("validateDue throws INVALID_ARGUMENT naming the field", () => {
    assert.throws(
      () => validateDue("due_date", { seconds: 0n, nanos: 0 }, now),
      (error) =>
        error instanceof ConnectError &&
        error.code === Code.InvalidArgument &&
        /^due_date: /.test(error.rawMessage),
    );
    assert.deepEqual(validateDue("due_date", now, now), now);
  });
});

describe("description limits", () => {
  test("empty or blank is rejected, the limit counts code points", () => {
    assert.equal(descriptionProblem(""), "must not be empty");
    assert.equal(descriptionProblem("  \t"), "must not be empty");
    assert.equal(descriptionProblem("x".repeat(MAX_DESCRIPTION_LENGTH)), undefined);
    assert.match(descriptionProblem("x".repeat(MAX_DESCRIPTION_LENGTH + 1)) ?? "", /at most/);
    // Each emoji is two UTF-16 code units but one character.
    assert.equal(descriptionProblem("😀".repeat(MAX_DESCRIPTION_LENGTH)), undefined);
    assert.throws(
      () => validateDescription("description", ""),
      (error) =>
        error instanceof ConnectError &&
        error.code === Code.InvalidArgument &&
        /^description: /.test(error.rawMessage),
    );
  });
});
