import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { candidateAt } from "../../src/search/candidates.ts";
import { createKernel, type KernelEngine } from "../../src/search/kernel.ts";
import { endsSearch, type Hit } from "../../src/search/reference.ts";
import {
  REFERENCE_FIND_RANGE,
  REFERENCE_FIND_RANGES_ENDING,
  REFERENCE_FINDS,
} from "../helpers/reference-answers.ts";

const ENGINES: KernelEngine[] = ["wasm", "js"];
const noStop = new Int32Array(new SharedArrayBuffer(4));

/** Every reported hit from index 0 up to and including the one that ends the search, in slices as the pool would. */
function searchFromStart(target: string, ideal: number, interesting: number, engine: KernelEngine): Hit[] {
  const kernel = createKernel({ target, ideal, interesting }, engine);
  const hits: Hit[] = [];
  for (let start = 0; start < 1e8; start += 65536) {
    const result = kernel.scanSlice(start, start + 65536, noStop, 0);
    hits.push(...result.hits);
    const last = result.hits.at(-1);
    if (last !== undefined && endsSearch(ideal, interesting, last.distance)) return hits;
  }
  throw new Error("no hit ended the search");
}

function secret(index: number): string {
  return Buffer.from(candidateAt(index)).toString("base64");
}

for (const engine of ENGINES) {
  describe(`reference answers (${engine} engine)`, () => {
    for (const [target, ideal, expected] of REFERENCE_FINDS) {
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
      const { name, ideal, interesting, count, firstSecrets, last } = REFERENCE_FIND_RANGE;
      const hits = searchFromStart(name, ideal, interesting, engine);
      assert.equal(hits.length, count);
      assert.deepEqual(
        hits.slice(0, 5).map((hit) => secret(hit.index)),
        firstSecrets,
      );
      assert.deepEqual(hits.at(-1), { index: last.index, distance: last.distance });
      assert.equal(secret(last.index), last.secret);
      assert.ok(hits.slice(0, -1).every((hit) => hit.distance > ideal && hit.distance <= interesting));
    });

    for (const { name, ideal, interesting, responses } of REFERENCE_FIND_RANGES_ENDING) {
      test(`FindRange(${JSON.stringify(name)}, ${ideal}, ${interesting}): interesting hits do not end it`, () => {
        const hits = searchFromStart(name, ideal, interesting, engine);
        assert.deepEqual(
          hits.map((hit) => [secret(hit.index), hit.distance]),
          responses,
        );
      });
    }
  });
}
