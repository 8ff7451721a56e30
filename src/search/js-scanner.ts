/**
 * The JavaScript engine: SHA-1 of a single block in Int32 locals (no allocation per candidate), then the windowed
 * distance from the 6-bit digest values with an early exit once a window has more mismatches than reported.
 * It is the fallback when WebAssembly SIMD is missing and the comparison point for the WebAssembly engine.
 */
import type { RunScanner } from "./run-scanner.ts";
import { type CompiledTarget, digestValues, HASHED_LENGTH, PAD_VALUE } from "./target.ts";

const schedule = new Int32Array(80);

/** SHA-1 of the single block (w0, w1, 0 … 0, w15): writes h0..h4 into `out`. */
export function sha1Block(w0: number, w1: number, w15: number, out: Int32Array): void {
  const w = schedule;
  w[0] = w0;
  w[1] = w1;
  w[15] = w15;
  for (let t = 16; t < 80; t++) {
    const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!;
    w[t] = (x << 1) | (x >>> 31);
  }
  let a = 0x67452301;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476;
  let e = 0xc3d2e1f0 | 0;
  for (let t = 0; t < 20; t++) {
    const temp = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (let t = 20; t < 40; t++) {
    const temp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (let t = 40; t < 60; t++) {
    const temp = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + w[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (let t = 60; t < 80; t++) {
    const temp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + w[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  out[0] = (a + 0x67452301) | 0;
  out[1] = (b + 0xefcdab89) | 0;
  out[2] = (c + 0x98badcfe) | 0;
  out[3] = (d + 0x10325476) | 0;
  out[4] = (e + 0xc3d2e1f0) | 0;
}

/** A RunScanner in plain JavaScript; `report` ≥ 0 is the largest distance reported. */
export function createJsScanner(compiled: CompiledTarget, report: number): RunScanner {
  const digest = new Int32Array(5);
  const values = new Int32Array(HASHED_LENGTH);
  const m = compiled.length;
  const match = compiled.match;
  const stride = PAD_VALUE + 1;
  // Within report: some window has at most `report` mismatches; each window gives up at report + 1.
  const withinReport = (): boolean => {
    for (let start = 0; start + m <= HASHED_LENGTH; start++) {
      let mismatches = 0;
      for (let i = 0; i < m; i++) {
        if (match[i * stride + values[start + i]!] === 0 && ++mismatches > report) break;
      }
      if (mismatches <= report) return true;
    }
    return false;
  };
  return {
    digest,
    firstHit(w0, w1, varyWord, shift, w15, from, to) {
      for (let v = from; v < to; v++) {
        const vary = v << shift;
        if (varyWord === 0) sha1Block(w0 | vary, w1, w15, digest);
        else sha1Block(w0, w1 | vary, w15, digest);
        digestValues(digest, values);
        if (withinReport()) return v;
      }
      return -1;
    },
  };
}
