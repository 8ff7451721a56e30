/**
 * HashFinder over real sockets: the reference's answers, validation, and every row of the cancellation
 * contract (README, "The cancellation contract") with its server-side effect — the pool goes idle, a queued call never runs.
 */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { errorOf } from "../helpers/call-error.ts";
import { connectDroppable } from "../helpers/raw-h2.ts";
import {
  REFERENCE_FIND_RANGE,
  REFERENCE_FIND_RANGES_ENDING,
  REFERENCE_FINDS,
  REFERENCE_FINDS_NON_ASCII,
} from "../helpers/reference-answers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { isSettled, waitUntil } from "../helpers/wait.ts";

/** A name that never occurs in a base64 hash (NUL is not a base64 character): the search runs until stopped. */
const NEVER = "\u0000\u0000\u0000\u0000";

describe("HashFinder answers", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ maximumHashes: 0 });
  });
  after(() => s.close());

  for (const [name, ideal, secret] of REFERENCE_FINDS) {
    test(`Find("${name}", ${ideal}) returns the reference's secret "${secret}"`, async () => {
      const res = await s.hashFinder().find({ desiredName: name, idealHammingDistance: ideal });
      assert.equal(res.secret, secret);
      assert.ok(res.hammingDistance <= ideal);
      assert.ok(res.hashedName.toLowerCase().length === 28);
    });
  }

  for (const [name, ideal, secret] of REFERENCE_FINDS_NON_ASCII) {
    test(`Find(${JSON.stringify(name)}, ${ideal}) lower-cases the name as the reference does: "${secret}"`, async () => {
      // A name lower-cased wrongly may match nothing at all, and this server has no budget: a deadline ends that.
      const res = await s
        .hashFinder()
        .find({ desiredName: name, idealHammingDistance: ideal }, { timeoutMs: 20_000 });
      assert.equal(res.secret, secret);
    });
  }

  for (const { name, ideal, interesting, responses } of REFERENCE_FIND_RANGES_ENDING) {
    test(`FindRange(${JSON.stringify(name)}, ${ideal}, ${interesting}) is the reference's whole stream`, async () => {
      const received: (readonly [string, number])[] = [];
      for await (const res of s.hashFinder().findRange({
        desiredName: name,
        idealHammingDistance: ideal,
        interestingHammingDistance: interesting,
      })) {
        received.push([res.secret, res.hammingDistance]);
      }
      assert.deepEqual(received, responses);
    });
  }

  test("FindRange streams the reference's responses, in order, ending with the ideal one", async () => {
    const expected = REFERENCE_FIND_RANGE;
    const secrets: string[] = [];
    let last: { secret: string; hammingDistance: number } | undefined;
    for await (const res of s.hashFinder().findRange({
      desiredName: expected.name,
      idealHammingDistance: expected.ideal,
      interestingHammingDistance: expected.interesting,
    })) {
      secrets.push(res.secret);
      last = res;
    }
    assert.equal(secrets.length, expected.count);
    assert.deepEqual(secrets.slice(0, 5), expected.firstSecrets);
    assert.deepEqual(last && { secret: last.secret, distance: last.hammingDistance }, {
      secret: expected.last.secret,
      distance: expected.last.distance,
    });
  });

  test("the same port serves Connect over HTTP/1.1, and a 404 page for other paths", async () => {
    const res = await s.hashFinder(s.connectHttp1()).find({ desiredName: "aa", idealHammingDistance: 0 });
    assert.equal(res.secret, "ZA==");
    const page = await fetch(`http://${s.address}/`);
    assert.equal(page.status, 404);
    assert.match(await page.text(), /hash_name\.HashFinder/);
  });
});

describe("HashFinder answers do not depend on the number of workers", () => {
  for (const workers of [1, 2, 4]) {
    test(`${workers} worker(s): Find("doct", 0) and FindRange("doctor", 1, 3)`, async () => {
      const s = await startTestServer({ workers, maximumHashes: 0 });
      try {
        const found = await s.hashFinder().find({ desiredName: "doct", idealHammingDistance: 0 });
        assert.equal(found.secret, "AA+H");
        assert.equal(found.candidatesSearched, 69242n);
        let count = 0;
        let lastSecret = "";
        for await (const res of s
          .hashFinder()
          .findRange({ desiredName: "doctor", idealHammingDistance: 1, interestingHammingDistance: 3 })) {
          count++;
          lastSecret = res.secret;
        }
        assert.deepEqual([count, lastSecret], [663, "4fE="]);
      } finally {
        await s.close();
      }
    });
  }
});

describe("HashFinder validation", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  const bad: Array<
    [
      string,
      { desiredName: string; idealHammingDistance?: number; interestingHammingDistance?: number },
      string,
    ]
  > = [
    ["empty desired_name", { desiredName: "" }, "desired_name"],
    ["desired_name over 28 characters", { desiredName: "a".repeat(29) }, "desired_name"],
    ["negative ideal distance", { desiredName: "aa", idealHammingDistance: -1 }, "ideal_hamming_distance"],
  ];
  for (const [what, request, field] of bad) {
    test(`${what} → INVALID_ARGUMENT naming ${field}, nothing started`, async () => {
      const started = s.server.pool.stats().slicesStarted;
      const error = await errorOf(s.hashFinder().find(request));
      assert.equal(error.code, Code.InvalidArgument);
      assert.match(error.rawMessage, new RegExp(`^${field}:`));
      assert.equal(s.server.pool.stats().slicesStarted, started);
    });
  }

  test("negative interesting distance on FindRange → INVALID_ARGUMENT naming it", async () => {
    const stream = s
      .hashFinder()
      .findRange({ desiredName: "aa", idealHammingDistance: 0, interestingHammingDistance: -2 });
    const error = await errorOf(
      (async () => {
        for await (const _ of stream) assert.fail("no response expected");
      })(),
    );
    assert.equal(error.code, Code.InvalidArgument);
    assert.match(error.rawMessage, /^interesting_hamming_distance:/);
  });

  // The limits are inclusive: 28 characters is as long as a base64 SHA-1, so a name that long is valid (and at
  // distance 28 every candidate matches it, the first one included).
  test("a 28-character desired_name is valid", async () => {
    const res = await s.hashFinder().find({ desiredName: "a".repeat(28), idealHammingDistance: 28 });
    assert.equal(res.candidatesSearched, 1n);
  });

  // Find, like the reference, ignores interesting_hamming_distance: a negative one is not refused there.
  test("Find ignores interesting_hamming_distance, even a negative one", async () => {
    const res = await s.hashFinder().find({ desiredName: "aa", interestingHammingDistance: -1 });
    assert.equal(res.secret, "ZA==");
  });
});

describe("HashFinder cancellation contract", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ maximumHashes: 0, workers: 2, maxRunning: 2, maxQueued: 2 });
  });
  after(() => s.close());

  const busy = () => s.server.pool.stats().busyWorkers > 0;

  test("client cancel while running → CANCELLED, the workers stop, the log says client-cancelled", async () => {
    const abort = new AbortController();
    const call = s.hashFinder().find({ desiredName: NEVER }, { signal: abort.signal });
    await waitUntil("the search is running", busy);
    abort.abort();
    assert.equal((await errorOf(call)).code, Code.Canceled);
    await s.server.pool.whenIdle();
    assert.equal(s.server.pool.stats().running, 0);
    const line = await s.callLog("hash_name.HashFinder/Find", "CANCELLED");
    assert.equal(line.cause, "client-cancelled");
    assert.equal(typeof line.candidates, "number", "the log says how far the search got");
  });

  test("deadline → DEADLINE_EXCEEDED, the workers stop, the log says deadline", async () => {
    const call = s
      .hashFinder()
      .findRange({ desiredName: NEVER, interestingHammingDistance: 0 }, { timeoutMs: 150 });
    const error = await errorOf(
      (async () => {
        for await (const _ of call) assert.fail("no response expected");
      })(),
    );
    assert.equal(error.code, Code.DeadlineExceeded);
    await s.server.pool.whenIdle();
    assert.equal(s.server.pool.stats().running, 0);
    const line = await s.callLog("hash_name.HashFinder/FindRange", "DEADLINE_EXCEEDED");
    assert.equal(line.cause, "deadline");
  });

  test("client disconnect (connection dropped mid-call) → the workers stop, the log says disconnected", async () => {
    const callLines = () => s.log.entries.filter((e) => e.event === "call");
    const before = callLines().length;
    const connection = connectDroppable(s.address);
    // A raw gRPC call: 5-byte frame header, then HashNameRequest{desired_name=NEVER}.
    const body = Buffer.from([0x0a, NEVER.length, ...Buffer.from(NEVER)]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]);
    const stream = connection.session.request({
      ":method": "POST",
      ":path": "/hash_name.HashFinder/Find",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => {});
    stream.end(frame);
    await waitUntil("the search is running", busy);
    connection.drop();
    await s.server.pool.whenIdle();
    await waitUntil("the call is logged", () => callLines().length === before + 1);
    const line = callLines().at(-1);
    assert.equal(line?.cause, "disconnected");
  });

  test("a queued call that is cancelled never runs; queue full and per-client limits answer at once", async () => {
    const a = new AbortController();
    const b = new AbortController();
    const running1 = s.hashFinder().find({ desiredName: NEVER }, { signal: a.signal });
    const running2 = s.hashFinder().find({ desiredName: NEVER }, { signal: a.signal });
    const linesBefore = s.log.entries.length;
    const slices = s.server.pool.stats().slicesStarted;
    // Let the running searches commit work, so their log lines show candidates > 0 and the queued ones' do not.
    await waitUntil("two searches run", () => s.server.pool.stats().running === 2);
    await waitUntil(
      "the running searches made progress",
      () => s.server.pool.stats().slicesStarted > slices + 12,
    );
    const queued1 = s.hashFinder().find({ desiredName: `${NEVER}q` }, { signal: b.signal });
    const queued2 = s.hashFinder().find({ desiredName: `${NEVER}q` }, { signal: b.signal });
    await waitUntil("two searches wait", () => s.server.pool.stats().queued === 2);

    const fullLogged = s.nextCallLog("hash_name.HashFinder/Find");
    const full = await errorOf(s.hashFinder().find({ desiredName: "aa" }));
    assert.equal(full.code, Code.ResourceExhausted);
    assert.match(full.rawMessage, /max-queued=2/);
    const fullLine = await fullLogged;
    assert.deepEqual([fullLine.outcome, fullLine.cause], ["RESOURCE_EXHAUSTED", "limits"]);
    assert.equal(fullLine.candidates ?? 0, 0, "it searched nothing");
    assert.equal(s.server.pool.stats().queued, 2, "the refused call was not queued");

    b.abort();
    assert.equal((await errorOf(queued1)).code, Code.Canceled);
    assert.equal((await errorOf(queued2)).code, Code.Canceled);
    // The client gave up at once; the server removes them when it reads the cancel.
    await waitUntil("the queued calls are removed", () => s.server.pool.stats().queued === 0);
    a.abort();
    await Promise.all([errorOf(running1), errorOf(running2)]);
    await s.server.pool.whenIdle();
    const queuedLines = s.log.entries
      .slice(linesBefore)
      .filter((e) => e.event === "call" && e.outcome === "CANCELLED" && e.candidates === 0);
    assert.equal(queuedLines.length, 2, "both queued calls ended having searched nothing");
  });

  test("while a long search runs, a short Find still answers (fairness)", async () => {
    const abort = new AbortController();
    const long = s.hashFinder().find({ desiredName: NEVER }, { signal: abort.signal });
    await waitUntil("the long search is running", busy);
    const short = await s.hashFinder().find({ desiredName: "aa", idealHammingDistance: 0 });
    assert.equal(short.secret, "ZA==");
    assert.equal(await isSettled(long), false, "the long search is still running");
    abort.abort();
    await errorOf(long);
    await s.server.pool.whenIdle();
  });

  test("finished calls leave no listener on the server's shutdown signal", async () => {
    for (let i = 0; i < 20; i++) await s.hashFinder().find({ desiredName: "aa" });
    const abort = new AbortController();
    const call = s.hashFinder().find({ desiredName: NEVER }, { signal: abort.signal });
    await waitUntil("the search is running", busy);
    abort.abort();
    await errorOf(call);
    await s.server.pool.whenIdle();
    assert.equal(getEventListeners(s.server.shutdownSignal, "abort").length, 0);
  });
});

describe("HashFinder limits and budget", () => {
  test("budget exhausted → RESOURCE_EXHAUSTED naming the budget; FindRange keeps what it sent", async () => {
    const s = await startTestServer({ maximumHashes: 20_000 });
    try {
      const error = await errorOf(s.hashFinder().find({ desiredName: "doctor" }));
      assert.equal(error.code, Code.ResourceExhausted);
      assert.match(error.rawMessage, /maximum-hashes=20000/);
      const line = await s.callLog("hash_name.HashFinder/Find", "RESOURCE_EXHAUSTED");
      assert.deepEqual([line.cause, line.candidates], ["budget", 20_000]);

      const received: bigint[] = [];
      const rangeLogged = s.nextCallLog("hash_name.HashFinder/FindRange");
      const streamed = errorOf(
        (async () => {
          for await (const res of s
            .hashFinder()
            .findRange({ desiredName: "doctor", idealHammingDistance: 0, interestingHammingDistance: 3 })) {
            received.push(res.candidatesSearched);
          }
        })(),
      );
      assert.equal((await streamed).code, Code.ResourceExhausted);
      assert.ok(received.length > 0, "interesting candidates before the budget were streamed");
      assert.ok(received.every((n) => n <= 20_000n));
      // The stream's log line too says why it ended, and how many messages went out before.
      const rangeLine = await rangeLogged;
      assert.deepEqual(
        [rangeLine.outcome, rangeLine.cause, rangeLine.candidates, rangeLine.messages],
        ["RESOURCE_EXHAUSTED", "budget", 20_000, received.length],
      );
    } finally {
      await s.close();
    }
  });

  test("a client over its share → RESOURCE_EXHAUSTED at once", async () => {
    const s = await startTestServer({ maximumHashes: 0, maxPerClient: 1 });
    try {
      const transport = s.grpc(); // one connection: one peer
      const abort = new AbortController();
      const first = s.hashFinder(transport).find({ desiredName: NEVER }, { signal: abort.signal });
      await waitUntil("the first search runs", () => s.server.pool.stats().running === 1);
      const secondLogged = s.nextCallLog("hash_name.HashFinder/Find");
      const second = await errorOf(s.hashFinder(transport).find({ desiredName: "aa" }));
      assert.equal(second.code, Code.ResourceExhausted);
      assert.match(second.rawMessage, /max-per-client=1/);
      const line = await secondLogged;
      assert.deepEqual([line.outcome, line.cause], ["RESOURCE_EXHAUSTED", "limits"]);
      assert.equal(line.candidates ?? 0, 0, "it searched nothing");
      assert.deepEqual(
        [s.server.pool.stats().running, s.server.pool.stats().queued],
        [1, 0],
        "nothing started",
      );
      abort.abort();
      await errorOf(first);
    } finally {
      await s.close();
    }
  });
});

describe("FindRange back-pressure", () => {
  test("a client that stops reading pauses the search; reading again resumes it", async () => {
    const s = await startTestServer({ maximumHashes: 0 });
    try {
      const abort = new AbortController();
      // Every candidate is within distance 4 of NEVER: an endless stream of responses.
      const stream = s
        .hashFinder()
        .findRange(
          { desiredName: NEVER, idealHammingDistance: 0, interestingHammingDistance: 4 },
          { signal: abort.signal },
        )
        [Symbol.asyncIterator]();
      await stream.next();
      // The client reads nothing more: buffers fill, the pool must stop handing out slices.
      await waitUntil(
        "the search pauses",
        () => s.server.pool.stats().busyWorkers === 0 && s.server.pool.stats().waitingForReader === 1,
      );
      const paused = s.server.pool.stats().slicesStarted;
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(
        s.server.pool.stats().slicesStarted,
        paused,
        "no slice ran while the client was not reading",
      );
      assert.ok(process.memoryUsage().rss < 1024 * 1024 * 1024, "memory stays bounded");
      for (let i = 0; i < 20_000; i++) await stream.next();
      assert.ok(s.server.pool.stats().slicesStarted > paused, "reading again resumed the search");
      abort.abort();
      await stream.return?.();
      await s.server.pool.whenIdle();
    } finally {
      await s.close();
    }
  });
});
