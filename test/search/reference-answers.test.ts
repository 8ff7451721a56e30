import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { candidateAt } from "../../src/search/candidates.ts";
import { createKernel, type KernelEngine } from "../../src/search/kernel.ts";
import type { Hit } from "../../src/search/reference.ts";

const ENGINES: KernelEngine[] = ["wasm", "js"];
const noStop = new Int32Array(new SharedArrayBuffer(4));

/** Every reported hit from index 0 up to and including the first ideal one, in slices as the pool would. */
function searchFromStart(target: string, ideal: number, interesting: number, engine: KernelEngine): Hit[] {
  const kernel = createKernel({ target, ideal, interesting }, engine);
  const hits: Hit[] = [];
  for (let start = 0; start < 1e8; start += 65536) {
    const result = kernel.scanSlice(start, start + 65536, noStop, 0);
    hits.push(...result.hits);
    const last = result.hits.at(-1);
    if (last !== undefined && last.distance <= ideal) return hits;
  }
  throw new Error("no ideal hit");
}

function secret(index: number): string {
  return Buffer.from(candidateAt(index)).toString("base64");
}

for (const engine of ENGINES) {
  describe(`reference answers (${engine} engine)`, () => {
    const finds: Array<[string, number, string]> = [
      ["aa", 0, "ZA=="],
      ["Aa", 0, "ZA=="],
      ["doc", 0, "AMA="],
      ["doct", 0, "AA+H"],
      ["grpc", 1, "Gw=="],
      ["x", 0, "AA=="],
      ["a", 0, ""],
    ];
    for (const [target, ideal, expected] of finds) {
      test(`Find(${JSON.stringify(target)}, ${ideal}) → ${JSON.stringify(expected)}`, () => {
        const hits = searchFromStart(target, ideal, -1, engine);
        assert.equal(hits.length, 1);
        assert.equal(secret(hits[0]!.index), expected);
      });
    }
    test('Find("a", 0) is the empty secret at index 0', () => {
      assert.deepEqual(searchFromStart("a", 0, -1, engine), [{ index: 0, distance: 0 }]);
    });

    test('FindRange("doctor", 1, 3): 663 hits ending at 4fE= (distance 1, index 57872)', () => {
      const hits = searchFromStart("doctor", 1, 3, engine);
      assert.equal(hits.length, 663);
      assert.deepEqual(
        hits.slice(0, 5).map((hit) => secret(hit.index)),
        ["Eg==", "JA==", "cw==", "5A==", "8w=="],
      );
      assert.deepEqual(hits.at(-1), { index: 57872, distance: 1 });
      assert.equal(secret(57872), "4fE=");
      assert.ok(hits.slice(0, -1).every((hit) => hit.distance > 1 && hit.distance <= 3));
    });
  });
}
