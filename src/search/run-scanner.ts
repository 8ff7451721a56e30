/**
 * The inner loop of the fast kernels, shared by the JavaScript and WebAssembly engines: one *run* of candidates
 * that share their length and every byte but the last, so the SHA-1 message block differs only in one byte.
 *
 * A candidate of length L ≤ 7 (every candidate whose index is a safe integer) fits one 64-byte block whose words
 * W0 (bytes 0–3) and W1 (bytes 4–7, with the 0x80 padding byte at offset L) carry the message, W2–W14 are zero and
 * W15 = 8·L.
 */

export interface RunScanner {
  /** SHA-1 words h0..h4 of the candidate that `firstHit` returned last. */
  readonly digest: Int32Array;
  /**
   * Scans the candidates whose block is (w0, w1, 0…, w15) with `v << shift` or-ed into word `varyWord`, for v in
   * [from, to) in order; returns the first v whose candidate is within the report distance (its digest is then in
   * `digest`), or -1. The caller recomputes that candidate's exact distance from `digest`.
   */
  firstHit(
    w0: number,
    w1: number,
    varyWord: number,
    shift: number,
    w15: number,
    from: number,
    to: number,
  ): number;
}

/** Largest candidate length the single-block layout supports (8 bytes would push padding into W2). */
export const MAX_BLOCK_LENGTH = 7;

/**
 * Block words of a candidate whose last byte is zeroed, written into `out` as [w0, w1, varyWord, shift, w15]
 * (an out-parameter: the kernel calls this once per run and must not allocate, or its worker pauses for GC).
 * Reads only `bytes[0 .. length - 2]`.
 */
export function blockWords(bytes: Uint8Array, length: number, out: Int32Array): void {
  let w0 = 0;
  let w1 = 0;
  for (let p = 0; p < 8; p++) {
    const byte = p < length - 1 ? bytes[p]! : p === length ? 0x80 : 0;
    if (p < 4) w0 |= byte << (24 - 8 * p);
    else w1 |= byte << (24 - 8 * (p - 4));
  }
  const last = length - 1;
  out[0] = w0;
  out[1] = w1;
  out[2] = last >> 2;
  out[3] = 24 - 8 * (last & 3);
  out[4] = length * 8;
}
