import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  BYTE_VALUES,
  candidateAt,
  firstIndexOfLength,
  indexOfCandidate,
  lengthAt,
} from "../../src/search/candidates.ts";

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

  test("rejects invalid indices and the byte 0xFF", () => {
    assert.throws(() => candidateAt(-1), RangeError);
    assert.throws(() => candidateAt(1.5), RangeError);
    assert.throws(() => indexOfCandidate(new Uint8Array([0xff])), RangeError);
  });
});
