import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCpuLine, stealShare } from "../../bench/cpu-times.ts";

describe("the bench's reading of /proc/stat", () => {
  it("keeps steal apart from the guest's own busy time", () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    const times = parseCpuLine("cpu  971428 266626 209758 6539388 8957 0 6010 22988 0 0");
    assert.deepEqual(times, {
      busy: 971428 + 266626 + 209758 + 6010,
      steal: 22988,
      total: 971428 + 266626 + 209758 + 6010 + 22988 + 6539388 + 8957,
    });
  });

  it("reads a per-CPU line too, and refuses what is not a cpu line", () => {
    assert.equal(parseCpuLine("cpu1 10 0 5 100 0 0 0 3 0 0")?.steal, 3);
    assert.equal(parseCpuLine("intr 123 4 5 6 7 8 9 10 11"), undefined);
    assert.equal(parseCpuLine("cpu 1 2 3"), undefined);
    assert.equal(parseCpuLine(undefined), undefined);
  });

  it("gives the host's share of the CPUs' time between two readings", () => {
    const before = parseCpuLine("cpu 100 0 0 100 0 0 0 0 0 0");
    const after = parseCpuLine("cpu 180 0 0 200 0 0 0 20 0 0");
    assert.equal(stealShare(before, after), 20 / 200);
    assert.equal(stealShare(after, before), undefined, "a counter that went back is no reading");
    assert.equal(stealShare(undefined, after), undefined);
  });
});
