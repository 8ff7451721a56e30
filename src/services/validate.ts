/** Request checks that name the field: INVALID_ARGUMENT before any work starts. */

import { invalidField } from "../errors.ts";
import type { HashNameRequest } from "../gen/hash_name/hash_name_pb.ts";
import type { SearchQuery } from "../search/kernel.ts";

/** A base64 SHA-1 has 28 characters, so no longer name can ever match fully. */
export const MAX_DESIRED_NAME_LENGTH = 28;

/**
 * Validates a HashFinder request and turns it into a kernel query. `withInteresting` is false for Find, which
 * (like the reference) ignores interesting_hamming_distance.
 */
export function hashQueryFromRequest(req: HashNameRequest, withInteresting: boolean): SearchQuery {
  const codePoints = [...req.desiredName];
  if (codePoints.length === 0) throw invalidField("desired_name", "must not be empty");
  if (codePoints.length > MAX_DESIRED_NAME_LENGTH) {
    throw invalidField(
      "desired_name",
      `must be at most ${MAX_DESIRED_NAME_LENGTH} characters (a base64 SHA-1 has 28), got ${codePoints.length}`,
    );
  }
  if (req.idealHammingDistance < 0) {
    throw invalidField("ideal_hamming_distance", `must not be negative, got ${req.idealHammingDistance}`);
  }
  if (withInteresting && req.interestingHammingDistance < 0) {
    throw invalidField(
      "interesting_hamming_distance",
      `must not be negative, got ${req.interestingHammingDistance}`,
    );
  }
  // As the reference does: the whole name lower-cased, cut to as many characters as the client sent (lower-casing
  // can lengthen it: "İ" becomes "i" and a combining dot; the Kelvin sign becomes "k"). A character left outside
  // ASCII can never equal a base64 character: one code unit that matches nothing keeps the window that long.
  const lowered = [...req.desiredName.toLowerCase()].slice(0, codePoints.length);
  const target = lowered.map((c) => (c.length === 1 && c.charCodeAt(0) < 128 ? c : "\u0000")).join("");
  return {
    target,
    ideal: req.idealHammingDistance,
    interesting: withInteresting ? req.interestingHammingDistance : -1,
  };
}
