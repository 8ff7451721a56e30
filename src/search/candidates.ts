/**
 * Candidate order of the reference search: byte strings by increasing length, starting with the empty string;
 * within a length, lexicographic, each byte in 0x00..0xFE (the reference's alphabet never uses 0xFF).
 *
 * Candidate indices are plain numbers, and the numbering is exact for every safe integer: lengths 0–6 end at
 * (255^7 − 1)/254 ≈ 2.8e14, and length 7 (255^7 ≈ 7.0e16 candidates) reaches past 2^53, so every safe index is a
 * candidate of at most 7 bytes (2^53 − 1 is 1f c0 e2 82 e0 bf 1e). writeCandidate's divisions by 255 are exact
 * there: a correctly rounded x / 255 of an integer x < 2^53 never rounds up across an integer.
 */

/** Number of byte values a candidate position takes (0x00..0xFE). */
export const BYTE_VALUES = 255;

/**
 * End (exclusive) of the candidates a search can examine: indices [0, 2^53 − 1), every slice [start, end) of it
 * made of safe integers as the kernel requires. A search with no budget that gets here has searched them all.
 */
export const SEARCH_SPACE_END = Number.MAX_SAFE_INTEGER;

/** Index of the first candidate of the given length: (255^length - 1) / 254. */
export function firstIndexOfLength(length: number): number {
  let first = 0;
  let block = 1;
  for (let l = 0; l < length; l++) {
    first += block;
    block *= BYTE_VALUES;
  }
  return first;
}

/** Length of the candidate at `index`. */
export function lengthAt(index: number): number {
  let length = 0;
  let first = 0;
  let block = 1;
  while (index >= first + block) {
    first += block;
    block *= BYTE_VALUES;
    length++;
  }
  return length;
}

/** The candidate bytes at `index` in candidate order. */
export function candidateAt(index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0)
    throw new RangeError(`candidate index ${index} is not valid`);
  const bytes = new Uint8Array(lengthAt(index));
  writeCandidate(index, bytes);
  return bytes;
}

/**
 * Writes the bytes of the candidate at `index` (a valid index, as for candidateAt) into the start of `out`, which
 * must be long enough; returns the candidate's length. Allocates nothing: the kernel calls it once per run.
 */
export function writeCandidate(index: number, out: Uint8Array): number {
  const length = lengthAt(index);
  if (length > out.length) throw new RangeError(`candidate ${index} has ${length} bytes, more than fit`);
  let offset = index - firstIndexOfLength(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = offset % BYTE_VALUES;
    offset = Math.floor(offset / BYTE_VALUES);
  }
  return length;
}

/** The position of `candidate` in candidate order; the inverse of candidateAt. */
export function indexOfCandidate(candidate: Uint8Array): number {
  let offset = 0;
  for (const byte of candidate) {
    if (byte >= BYTE_VALUES) throw new RangeError("byte 0xFF is not in the candidate alphabet");
    offset = offset * BYTE_VALUES + byte;
  }
  return firstIndexOfLength(candidate.length) + offset;
}
