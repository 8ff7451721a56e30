import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { firstIndexOfLength, SEARCH_SPACE_END } from "../../src/search/candidates.ts";
import { createKernel, type KernelEngine, type SearchQuery } from "../../src/search/kernel.ts";
import { endsSearch, searchPlain } from "../../src/search/reference.ts";

const ENGINES: KernelEngine[] = ["wasm", "js"];
const noStop = new Int32Array(new SharedArrayBuffer(4));

/** Small deterministic PRNG (mulberry32) so that a failure names a reproducible seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Both engines give exactly the oracle's hits and scanned count on [start, end). */
function assertSameAsOracle(query: SearchQuery, start: number, end: number, label: string): number {
  const expected = searchPlain(query.target, query.ideal, query.interesting, start, end);
  const last = expected.at(-1);
  const expectedScanned =
    last !== undefined && endsSearch(query.ideal, query.interesting, last.distance)
      ? last.index - start + 1
      : end - start;
  for (const engine of ENGINES) {
    const result = createKernel(query, engine).scanSlice(start, end, noStop, 0);
    const where = `${label} ${engine} ${JSON.stringify(query)} [${start}, ${end})`;
    assert.deepEqual(result.hits, expected, where);
    assert.equal(result.scanned, expectedScanned, where);
    assert.equal(result.stopped, false, where);
  }
  return expected.length;
}

// Characters a target may hold: base64 in both cases, '=', and characters that match nothing or that lower-case
// into something else (Kelvin sign → 'k', 'İ' → two code units).
const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=~ é\u212a\u0130";

/** Slice starts worth testing: the empty string, every length boundary, deep inside lengths 5–7. */
const BOUNDARIES = [0, 1, ...[2, 3, 4, 5, 6, 7].map(firstIndexOfLength)];

describe("fast kernel equals searchPlain", () => {
  test("edge targets across every length boundary", () => {
    const queries: SearchQuery[] = [
      { target: "a", ideal: -1, interesting: 0 },
      { target: "A", ideal: -1, interesting: 0 },
      { target: "=", ideal: -1, interesting: 0 },
      { target: "+/", ideal: -1, interesting: 1 },
      { target: "Q=", ideal: -1, interesting: 1 },
      { target: "~", ideal: 0, interesting: 1 },
      { target: "dOcToR", ideal: 2, interesting: 3 },
      { target: "", ideal: 0, interesting: 0 },
      { target: "abcdefghijklmnopqrstuvwxyz+/", ideal: 21, interesting: 22 },
      { target: "ABCDEFGHIJKLMNOPQRSTUVWXYZ01", ideal: -1, interesting: 28 },
      { target: "x", ideal: -5, interesting: -5 },
    ];
    for (const query of queries) {
      for (const boundary of BOUNDARIES) {
        assertSameAsOracle(query, Math.max(0, boundary - 300), boundary + 300, "boundary");
      }
    }
    // The run of every last-byte value, and runs cut at odd places.
    assertSameAsOracle({ target: "ab", ideal: -1, interesting: 0 }, 256, 65281 + 10, "long");
  });

  test("random targets, distances and slices", () => {
    const seed = 20240611;
    const next = random(seed);
    let hits = 0;
    const pick = (n: number) => Math.floor(next() * n);
    for (let round = 0; round < 300; round++) {
      const length = 1 + pick(28);
      let target = "";
      for (let i = 0; i < length; i++) target += ALPHABET[pick(ALPHABET.length)];
      if (target.toLowerCase().length > 28) target = target.slice(0, 20);
      // Reports that need two or three matching characters (frequent hits) and ideals that need more (rare ones),
      // sometimes any distance at all, sometimes Find only; one round in four an ideal above interesting, where
      // only a hit between the two ends the search.
      const interesting = pick(5) === 0 ? pick(length + 2) - 1 : length - 2 - pick(2);
      const ideal =
        pick(3) === 0
          ? -1
          : pick(4) === 0
            ? interesting + 1 + pick(2)
            : Math.min(interesting, length - 3 - pick(3));
      const base = BOUNDARIES[pick(BOUNDARIES.length)]!;
      const start = Math.max(0, base + pick(1200) - 600);
      const end = start + pick(3000);
      hits += assertSameAsOracle({ target, ideal, interesting }, start, end, `seed ${seed} round ${round}`);
    }
    assert.ok(hits > 1000, `only ${hits} hits: the comparison would prove little`);
  });

  test("the end of the search space: both engines give the oracle's answers up to its last candidate", () => {
    const queries: SearchQuery[] = [
      { target: "a", ideal: -1, interesting: 0 },
      { target: "=", ideal: -1, interesting: 0 },
      { target: "+/", ideal: -1, interesting: 1 },
      { target: "dOcToR", ideal: 2, interesting: 3 },
      { target: "abcdefghijklmnopqrstuvwxyz+/", ideal: 21, interesting: 22 },
      { target: "x", ideal: -5, interesting: -5 },
    ];
    let hits = 0;
    for (const query of queries) {
      // The last 3,000 candidates in one slice; slices cut at odd places; the last candidate alone.
      hits += assertSameAsOracle(query, SEARCH_SPACE_END - 3000, SEARCH_SPACE_END, "end");
      hits += assertSameAsOracle(query, SEARCH_SPACE_END - 301, SEARCH_SPACE_END - 17, "end");
      hits += assertSameAsOracle(query, SEARCH_SPACE_END - 1, SEARCH_SPACE_END, "end");
    }
    assert.ok(hits > 500, `only ${hits} hits: the comparison would prove little`);
  });

  test("kernels of several searches interleaved on one thread each keep their own answers", () => {
    // A worker alternates between searches slice by slice, and the wasm engine keeps one instance per thread:
    // a long target's tables must not leak into a shorter one's scan, nor a scan undo another's tables.
    const queries: SearchQuery[] = [
      { target: "abcdefghijklmnopqrstuvwxyz+/", ideal: -1, interesting: 22 },
      { target: "dOc", ideal: -1, interesting: 1 },
      { target: "Q=", ideal: 0, interesting: 1 },
      { target: "~a", ideal: -1, interesting: 1 },
    ];
    for (const engine of ENGINES) {
      const kernels = queries.map((query) => createKernel(query, engine));
      for (let start = 0; start < 40_000; start += 2_000) {
        queries.forEach((query, i) => {
          const expected = searchPlain(query.target, query.ideal, query.interesting, start, start + 2_000);
          const result = kernels[i]!.scanSlice(start, start + 2_000, noStop, 0);
          assert.deepEqual(result.hits, expected, `${engine} ${JSON.stringify(query)} at ${start}`);
        });
      }
    }
  });

  test("pausing to give the core away changes nothing in the answer", () => {
    const query: SearchQuery = { target: "dOc", ideal: -1, interesting: 1 };
    const start = firstIndexOfLength(4);
    const end = start + 1_000_000;
    const plain = createKernel(query).scanSlice(start, end, noStop, 0);
    let paused = 0;
    const pausing = createKernel(query).scanSlice(start, end, noStop, 0, {
      everyMs: 0.2,
      shouldPause: () => true,
      pause: () => {
        paused++;
      },
    });
    assert.equal(plain.pauses, 0);
    // A million candidates take tens of ms: a pause every 0.2 ms happens many times, each by the pacing's own call.
    assert.ok(pausing.pauses >= 5, `only ${pausing.pauses} pauses`);
    assert.equal(paused, pausing.pauses);
    assert.deepEqual({ ...pausing, pauses: 0 }, plain);
    assert.ok(plain.hits.length > 100);
  });

  test("the pacing is asked every everyMs of scanning, and a no means no pause", () => {
    const query: SearchQuery = { target: "dOc", ideal: -1, interesting: 1 };
    const start = firstIndexOfLength(4);
    /** A pacing that counts its questions and answers `answer`. */
    const counting = (everyMs: number, answer: boolean) => {
      const pacing = {
        everyMs,
        asked: 0,
        paused: 0,
        shouldPause() {
          pacing.asked++;
          return answer;
        },
        pause() {
          pacing.paused++;
        },
      };
      return pacing;
    };
    const declining = counting(0.05, false);
    const result = createKernel(query).scanSlice(start, start + 1_000_000, noStop, 0, declining);
    assert.equal(result.pauses, 0);
    assert.equal(declining.paused, 0);
    // Tens of ms of scanning, asked every 0.05 ms.
    assert.ok(declining.asked >= 20, `asked only ${declining.asked} times`);
    const zero = counting(0, true);
    assert.equal(createKernel(query).scanSlice(start, start + 1_000_000, noStop, 0, zero).pauses, 0);
    assert.equal(zero.asked, 0, "everyMs 0 never asks");
  });

  test("a target longer than a hashed name is rejected as the oracle rejects it", () => {
    assert.throws(() => createKernel({ target: "a".repeat(29), ideal: 0, interesting: 0 }), RangeError);
    assert.throws(() => searchPlain("a".repeat(29), 0, 0, 0, 1), RangeError);
  });

  test("a slice outside candidate order is rejected as candidateAt rejects it", () => {
    const kernel = createKernel({ target: "ab", ideal: 0, interesting: 1 });
    assert.throws(() => kernel.scanSlice(-1, 10, noStop, 0), RangeError);
    assert.throws(() => kernel.scanSlice(0.5, 10, noStop, 0), RangeError);
    assert.throws(() => kernel.scanSlice(0, 2 ** 53, noStop, 0), RangeError);
  });
});
