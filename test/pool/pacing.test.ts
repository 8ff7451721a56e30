import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { Worker } from "node:worker_threads";
import { loadCoreYield } from "../../src/pool/core-yield.ts";
import { createPacing, FALLBACK_PAUSE_EVERY_MS } from "../../src/pool/pacing.ts";
import {
  LOADAVG_PATH,
  openRunQueueSource,
  type RunQueueSource,
  runnableCount,
  runQueueProbe,
  sharedRunQueueProbe,
} from "../../src/pool/run-queue.ts";
import { usePool } from "./helpers.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const count = (text: string) => runnableCount(bytes(text), bytes(text).length);

/** Writes `text` to a file named loadavg in a temporary folder removed after the test; returns its path. */
function loadavgFile(t: TestContext, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cancelkit-loadavg-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "loadavg");
  writeFileSync(path, text);
  return path;
}

/** Opens a file shaped like /proc/loadavg as the pool opens the real one (closed after the test). */
function openLoadavg(t: TestContext, path: string): RunQueueSource {
  const source = openRunQueueSource(path);
  assert.ok(source !== undefined, `${path} should read as a run queue`);
  t.after(() => source.close());
  return source;
}

/** A file with `text`, opened as the pool opens /proc/loadavg. */
function fakeLoadavg(t: TestContext, text: string): RunQueueSource {
  return openLoadavg(t, loadavgFile(t, text));
}

describe("run queue (/proc/loadavg)", () => {
  test("the runnable count is the number before the slash of the fourth field", () => {
    assert.equal(count("0.52 0.58 0.59 3/488 12345\n"), 3);
    assert.equal(count("12.00 8.50 4.25 117/2048 99\n"), 117);
    assert.equal(count("0.00 0.00 0.00 0/1 1"), 0);
    // Only the bytes read count: a short read is not a count.
    assert.equal(runnableCount(bytes("0.52 0.58 0.59 3/488"), 16), -1);
  });

  test("text of another shape is no count", () => {
    for (const text of ["", "0.52 0.58 0.59", "0.52 0.58 0.59 /488 1", "0.52 0.58 0.59 x/488 1", "a b c 3"]) {
      assert.equal(count(text), -1, JSON.stringify(text));
    }
  });

  test("others wait while more threads are runnable than there are CPUs", (t) => {
    const source = fakeLoadavg(t, "0.52 0.58 0.59 3/488 12345\n");
    const twoCpus = runQueueProbe({ fd: source.fd, cpus: 2 });
    const threeCpus = runQueueProbe({ fd: source.fd, cpus: 3 });
    assert.equal(twoCpus?.(), true);
    assert.equal(threeCpus?.(), false);
  });

  test("threads sharing a source read it about once per interval between them", (t) => {
    const path = loadavgFile(t, "0 0 0 3/10 1\n");
    const source = openLoadavg(t, path);
    // Two askers on one source, as two workers of a pool are.
    const first = sharedRunQueueProbe({ ...source, cpus: 2 });
    const second = sharedRunQueueProbe({ ...source, cpus: 2 });
    assert.ok(first !== undefined && second !== undefined);
    assert.equal(first(), true, "the first question reads the file: 3 runnable on 2 CPUs");
    writeFileSync(path, "0 0 0 2/10 1\n");
    assert.equal(second(), true, "the second takes that answer: the file says otherwise by now, unread");
    assert.equal(second(), false, "nobody read since its last question: it reads");
    assert.equal(first(), false, "and the first takes that one");
    writeFileSync(path, "0 0 0 5/10 1\n");
    assert.equal(first(), true, "its next question reads again");
  });

  test("a file that does not read as /proc/loadavg is no source", (t) => {
    const path = loadavgFile(t, "not a load average\n");
    assert.equal(openRunQueueSource(path), undefined);
    assert.equal(openRunQueueSource(join(dirname(path), "missing")), undefined);
  });

  test("on Linux, busy threads beyond the CPUs show as waiting", {
    skip: existsSync(LOADAVG_PATH) ? false : `no ${LOADAVG_PATH} here`,
    timeout: 30_000,
  }, async (t) => {
    const source = openRunQueueSource();
    assert.ok(source !== undefined);
    t.after(() => source.close());
    const othersWaiting = runQueueProbe(source);
    assert.ok(othersWaiting !== undefined);
    // Two spinning threads more than there are CPUs: at least two are runnable without a core.
    const spin = "const end = Date.now() + 20_000; while (Date.now() < end) {}";
    const spinners = Array.from({ length: source.cpus + 2 }, () => new Worker(spin, { eval: true }));
    t.after(() => Promise.all(spinners.map((spinner) => spinner.terminate())));
    const deadline = performance.now() + 10_000;
    let seen = false;
    while (!seen && performance.now() < deadline) {
      seen = othersWaiting();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(seen, "the spinners never showed as waiting");
  });
});

describe("pacing", () => {
  test("0 ms means no pacing at all", (t) => {
    assert.equal(createPacing(0, fakeLoadavg(t, "0 0 0 9/10 1\n")), undefined);
    assert.equal(
      createPacing(0, undefined, () => {}),
      undefined,
    );
  });

  test("with a core yield, yield every yieldEveryMs without asking the run queue", (t) => {
    let yields = 0;
    const coreYield = () => {
      yields++;
    };
    const calm = createPacing(0.05, { ...fakeLoadavg(t, "0 0 0 1/10 1\n"), cpus: 2 }, coreYield);
    assert.equal(calm?.everyMs, 0.05);
    assert.equal(calm?.shouldPause(), true, "a yield costs nothing where nobody waits: no question first");
    calm?.pause();
    assert.equal(yields, 1);
  });

  test("a sleeping pause gives the core away for a moment", (t) => {
    const busy = createPacing(0.05, { ...fakeLoadavg(t, "0 0 0 3/10 1\n"), cpus: 2 });
    assert.ok(busy !== undefined);
    const began = process.hrtime.bigint();
    busy.pause();
    // At least the 1 µs asked for; the OS stretches it (timer slack).
    assert.ok(process.hrtime.bigint() - began >= 1_000n);
  });

  test("with a run queue, pause only when a thread waits, asking every yieldEveryMs", (t) => {
    const busy = createPacing(0.05, { ...fakeLoadavg(t, "0 0 0 3/10 1\n"), cpus: 2 });
    const calm = createPacing(0.05, { ...fakeLoadavg(t, "0 0 0 2/10 1\n"), cpus: 2 });
    assert.equal(busy?.everyMs, 0.05);
    assert.equal(busy?.shouldPause(), true);
    assert.equal(calm?.shouldPause(), false);
  });

  test("without a run queue, pause every time, but no more often than the fallback interval", () => {
    const often = createPacing(0.05, undefined);
    assert.equal(often?.everyMs, FALLBACK_PAUSE_EVERY_MS);
    assert.equal(often?.shouldPause(), true);
    assert.equal(createPacing(2, undefined)?.everyMs, 2);
  });

  test("a pool says how its workers pause (the server logs it when it starts listening)", (t) => {
    const sleeping = existsSync(LOADAVG_PATH) ? "when-a-thread-waits" : "unconditionally";
    const expected = loadCoreYield() === undefined ? sleeping : "yield";
    assert.equal(usePool(t, { workers: 1, yieldEveryMs: 0.05 }).pausing, expected);
    assert.equal(usePool(t, { workers: 1, yieldEveryMs: 0.05, yieldCores: false }).pausing, sleeping);
    assert.equal(usePool(t, { workers: 1, yieldEveryMs: 0 }).pausing, "never");
  });

  test("on Linux the workers yield", { skip: process.platform !== "linux" && "Linux only" }, (t) => {
    assert.equal(usePool(t, { workers: 1 }).pausing, "yield");
  });
});
