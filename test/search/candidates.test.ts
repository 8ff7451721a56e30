import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  BYTE_VALUES,
  candidateAt,
  firstIndexOfLength,
  indexOfCandidate,
  lengthAt,
  SEARCH_SPACE_END,
} from "../../src/search/candidates.ts";

/** The candidate at `index` in exact integer arithmetic: the oracle where doubles could round. */
function candidateAtExact(index: bigint): Uint8Array {
  let first = 0n;
  let block = 1n;
  let length = 0;
  while (index >= first + block) {
    first += block;
    block *= BigInt(BYTE_VALUES);
    length++;
  }
  const bytes = new Uint8Array(length);
  let offset = index - first;
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(offset % BigInt(BYTE_VALUES));
    offset /= BigInt(BYTE_VALUES);
  }
  return bytes;
}

describe("candidate order", () => {
  test("starts with the empty string, then single bytes 0x00..0xFE", () => {
    assert.deepEqual(candidateAt(0), new Uint8Array([]));
    assert.deepEqual(candidateAt(1), new Uint8Array([0]));
    assert.deepEqual(candidateAt(255), new Uint8Array([0xfe]));
    assert.deepEqual(candidateAt(256), new Uint8Array([0, 0]));
    assert.deepEqual(candidateAt(257), new Uint8Array([0, 1]));
    assert.deepEqual(candidateAt(511), new Uint8Array([1, 0]));
  });

  test("firstIndexOfLength and lengthAt agree at every length boundary", () => {
    for (let length = 0; length <= 7; length++) {
      const first = firstIndexOfLength(length);
      assert.equal(lengthAt(first), length);
      if (length > 0) assert.equal(lengthAt(first - 1), length - 1);
      assert.equal(firstIndexOfLength(length + 1) - first, BYTE_VALUES ** length);
    }
  });

  test("candidateAt and indexOfCandidate round-trip across boundaries", () => {
    for (let length = 0; length <= 7; length++) {
      const first = firstIndexOfLength(length);
      for (const index of [first - 2, first - 1, first, first + 1, first + 254, first + 255, first + 256]) {
        if (index < 0) continue;
        const candidate = candidateAt(index);
        assert.equal(candidate.length, lengthAt(index));
        assert.ok(candidate.every((byte) => byte < BYTE_VALUES));
        assert.equal(indexOfCandidate(candidate), index);
      }
    }
    for (let i = 0; i < 2000; i++) {
      const index = Math.floor(Math.random() * firstIndexOfLength(7));
      assert.equal(indexOfCandidate(candidateAt(index)), index);
    }
  });

  test("the last candidate of a length is all 0xFE; the next is all zeros", () => {
    assert.deepEqual(candidateAt(firstIndexOfLength(3) - 1), new Uint8Array([0xfe, 0xfe]));
    assert.deepEqual(candidateAt(firstIndexOfLength(3)), new Uint8Array([0, 0, 0]));
  });

  test("numbering is exact up to the end of the search space (2^53 − 1), all of it within length 7", () => {
    assert.equal(SEARCH_SPACE_END, 2 ** 53 - 1);
    const indices = new Set<number>();
    // The last runs of the space, 2^53 − 1 itself included.
    for (let index = SEARCH_SPACE_END - 600; index <= SEARCH_SPACE_END; index++) indices.add(index);
    // Around every power of two that length 7 holds, and evenly spread over length 7 from its first candidate.
    for (let bit = 48; bit <= 53; bit++) for (const d of [-256, -1, 0, 1, 255]) indices.add(2 ** bit + d);
    const first = firstIndexOfLength(7);
    for (let i = 0; i <= 4000; i++) indices.add(first + Math.floor(((SEARCH_SPACE_END - first) * i) / 4000));
    for (const index of indices) {
      if (!Number.isSafeInteger(index) || index > SEARCH_SPACE_END) continue;
      const candidate = candidateAt(index);
      assert.deepEqual(candidate, candidateAtExact(BigInt(index)), `candidate ${index}`);
      assert.equal(lengthAt(index), 7, `length of ${index}`);
      assert.equal(indexOfCandidate(candidate), index, `index of candidate ${index}`);
    }
    assert.deepEqual(
      candidateAt(SEARCH_SPACE_END),
      new Uint8Array([0x1f, 0xc0, 0xe2, 0x82, 0xe0, 0xbf, 0x1e]),
    );
  });

  test("rejects invalid indices and the byte 0xFF", () => {
    assert.throws(() => candidateAt(-1), RangeError);
    assert.throws(() => candidateAt(1.5), RangeError);
    assert.throws(() => candidateAt(2 ** 53), RangeError);
    assert.throws(() => indexOfCandidate(new Uint8Array([0xff])), RangeError);
  });
});
