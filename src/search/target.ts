/**
 * A search target compiled for the fast kernels: which 6-bit digest values each target position matches, and the
 * exact distance computed straight from the five SHA-1 words (no base64 string, no lower-casing per candidate).
 *
 * Mirrors `substringDistance(hashedName(x), target)` of reference.ts exactly: the oracle lower-cases the *whole*
 * target first (which may change its length for non-ASCII text), then compares UTF-16 code units.
 */

/** Standard base64 alphabet: value v (0..63) is written as BASE64[v]. */
export const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Characters in a hashed name: 27 data characters and the final '='. */
export const HASHED_LENGTH = 28;

/** Pseudo digest value used for position 27, which always holds '='. */
export const PAD_VALUE = 64;

export interface CompiledTarget {
  /** Length of the lower-cased target (what the oracle compares). */
  length: number;
  /** For each target position, the digest values 0..64 it matches (64 = the final '='); may be empty. */
  allowed: number[][];
  /** match[i * 65 + value] = 1 when target position i matches that digest value. */
  match: Uint8Array;
}

/** Throws RangeError, as the oracle does, when the lower-cased target is longer than a hashed name. */
export function compileTarget(target: string): CompiledTarget {
  const lower = target.toLowerCase();
  if (lower.length > HASHED_LENGTH) throw new RangeError("target is longer than the hashed name");
  const allowed: number[][] = [];
  const match = new Uint8Array(lower.length * (PAD_VALUE + 1));
  for (let i = 0; i < lower.length; i++) {
    const values: number[] = [];
    for (let v = 0; v < 64; v++) if (BASE64[v]!.toLowerCase() === lower[i]) values.push(v);
    if (lower[i] === "=") values.push(PAD_VALUE);
    for (const v of values) match[i * (PAD_VALUE + 1) + v] = 1;
    allowed.push(values);
  }
  return { length: lower.length, allowed, match };
}

/** The 28 digest values (6-bit groups, then PAD_VALUE) of the SHA-1 words h0..h4, written into `out`. */
export function digestValues(h: ArrayLike<number>, out: Int32Array): void {
  let j = 0;
  let acc = 0; // pending bits, at most 37
  let bits = 0;
  for (let w = 0; w < 5; w++) {
    const word = h[w]! >>> 0;
    for (let byte = 3; byte >= 0; byte--) {
      acc = ((acc << 8) | ((word >>> (byte * 8)) & 0xff)) & 0x3fff;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        out[j++] = (acc >>> bits) & 63;
      }
    }
  }
  out[j++] = (acc << (6 - bits)) & 63; // 160 = 26*6 + 4: the last group is padded with two zero bits
  out[j] = PAD_VALUE;
}

/** Exact windowed distance of the hashed name whose digest values are `values` (see digestValues). */
export function valuesDistance(compiled: CompiledTarget, values: Int32Array): number {
  const m = compiled.length;
  const match = compiled.match;
  let best = m;
  for (let start = 0; start + m <= HASHED_LENGTH; start++) {
    let distance = 0;
    for (let i = 0; i < m && distance < best; i++) {
      if (match[i * (PAD_VALUE + 1) + values[start + i]!] === 0) distance++;
    }
    if (distance < best) best = distance;
  }
  return best;
}
