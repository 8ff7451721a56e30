/**
 * searchPlain, the oracle every kernel is checked against, ends a search where the reference's loop does
 * (gRPC's Python cancellation example, search.py), transcribed here as plainly as it is written there.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { candidateAt } from "../../src/search/candidates.ts";
import { type Hit, hashedName, searchPlain, substringDistance } from "../../src/search/reference.ts";

/**
 * search.py's loop over the first `distances.length` candidates: an interesting hit is yielded and the search goes
 * on (`if`), otherwise a hit within ideal is yielded and ends it (`elif`). `interesting` < 0 is Python's None.
 */
function referenceLoop(distances: number[], ideal: number, interesting: number): Hit[] {
  const hits: Hit[] = [];
  for (const [index, distance] of distances.entries()) {
    if (interesting >= 0 && distance <= interesting) hits.push({ index, distance });
    else if (distance <= ideal) {
      hits.push({ index, distance });
      return hits;
    }
  }
  return hits;
}

const CANDIDATES = 3_000;

test("searchPlain ends where the reference's loop ends, and where it never would, at the first ideal hit", () => {
  let differsFromFirstIdeal = 0;
  for (const target of ["a", "aa", "Ab", "doc", "Q=", "+/x"]) {
    const distances = Array.from({ length: CANDIDATES }, (_, index) =>
      substringDistance(hashedName(candidateAt(index)), target),
    );
    for (let ideal = 0; ideal <= 3; ideal++) {
      for (let interesting = -1; interesting <= 3; interesting++) {
        const ours = searchPlain(target, ideal, interesting, 0, CANDIDATES);
        const reference = referenceLoop(distances, ideal, interesting);
        const where = `${JSON.stringify(target)} ideal ${ideal} interesting ${interesting}`;
        if (interesting < ideal) {
          assert.deepEqual(ours, reference, where);
          const firstIdeal = reference.findIndex((hit) => hit.distance <= ideal);
          if (firstIdeal !== reference.length - 1) differsFromFirstIdeal++;
        } else {
          // The reference never ends here (every ideal hit is interesting too); we stop at the first ideal hit.
          const firstIdeal = reference.findIndex((hit) => hit.distance <= ideal);
          assert.notEqual(firstIdeal, -1, `${where}: no ideal hit in ${CANDIDATES} candidates`);
          assert.deepEqual(ours, reference.slice(0, firstIdeal + 1), where);
        }
      }
    }
  }
  // Cases where an interesting hit within ideal did not end the search: without them the rule is not exercised.
  assert.ok(differsFromFirstIdeal >= 3, `only ${differsFromFirstIdeal} cases exercise the rule`);
});
