/**
 * The plain, obvious implementation of the reference's search, written for clarity, not speed.
 * It is the oracle that the fast kernel is tested against, and it names each answer's fields.
 */
import { createHash } from "node:crypto";
import { candidateAt } from "./candidates.ts";

/** Standard base64 (with padding) of SHA-1(secret): always 28 characters. */
export function hashedName(secret: Uint8Array): string {
  return createHash("sha1").update(secret).digest("base64");
}

/**
 * Minimum, over every window of `hashed` as long as `target`, of the number of positions whose characters differ,
 * compared case-insensitively (ASCII lower case).
 */
export function substringDistance(hashed: string, target: string): number {
  const h = hashed.toLowerCase();
  const t = target.toLowerCase();
  if (t.length > h.length) throw new RangeError("target is longer than the hashed name");
  let best = t.length;
  for (let start = 0; start + t.length <= h.length; start++) {
    let distance = 0;
    for (let i = 0; i < t.length; i++) if (h[start + i] !== t[i]) distance++;
    if (distance < best) best = distance;
  }
  return best;
}

/** A candidate within the reported distance: its position in candidate order and its distance. */
export interface Hit {
  index: number;
  distance: number;
}

/**
 * Whether a hit ends the search. As in the reference, a hit within `interesting` is streamed and the search goes
 * on, and the first hit within `ideal` but not within `interesting` ends it. When interesting ≥ ideal (or < 0, as
 * for Find) that is the first hit within `ideal`: there the reference would never end, as every such hit is
 * also interesting.
 */
export function endsSearch(ideal: number, interesting: number, distance: number): boolean {
  return distance <= ideal && (interesting < 0 || interesting >= ideal || distance > interesting);
}

/**
 * Scans candidates [start, end) in order; returns every hit with distance ≤ max(ideal, interesting), and stops
 * after the first hit that ends the search (`endsSearch`; then the last hit returned). `interesting` < 0 means none.
 */
export function searchPlain(
  target: string,
  ideal: number,
  interesting: number,
  start: number,
  end: number,
): Hit[] {
  const report = Math.max(ideal, interesting);
  const hits: Hit[] = [];
  for (let index = start; index < end; index++) {
    const distance = substringDistance(hashedName(candidateAt(index)), target);
    if (distance <= report) {
      hits.push({ index, distance });
      if (endsSearch(ideal, interesting, distance)) break;
    }
  }
  return hits;
}
