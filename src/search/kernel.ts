/**
 * The search kernel: scans one slice of candidate order inside a worker thread, reading a shared stop flag between
 * runs of at most STOP_CHECK_INTERVAL candidates so that a cancel reaches it within well under a millisecond.
 *
 * Answers equal `searchPlain` (reference.ts) exactly. The slice is cut into *runs* — candidates that differ only in
 * their last byte — and each run goes to a RunScanner: scan.wasm (SIMD128, four candidates per step) by default,
 * or the JavaScript engine. A scanner only says which candidate is the next within the report distance; the exact
 * distance of each hit is recomputed here from its digest, and a disagreement throws (it would be a kernel bug).
 */
import { BYTE_VALUES, lengthAt, writeCandidate } from "./candidates.ts";
import { createJsScanner, sha1Block } from "./js-scanner.ts";
import { endsSearch, type Hit } from "./reference.ts";
import { blockWords, MAX_BLOCK_LENGTH, type RunScanner } from "./run-scanner.ts";
import { compileTarget, digestValues, HASHED_LENGTH, valuesDistance } from "./target.ts";
import { createWasmScanner } from "./wasm-scanner.ts";

/** Most candidates scanned between two reads of the stop flag (one run: every value of the last byte). */
export const STOP_CHECK_INTERVAL = BYTE_VALUES;

/** What a search looks for; `interesting` < 0 means only ideal hits are reported (Find). */
export interface SearchQuery {
  target: string;
  ideal: number;
  interesting: number;
}

export interface SliceResult {
  /** Hits in candidate order; if the last one ends the search (`endsSearch`), the search is over. */
  hits: Hit[];
  /** Candidates examined, including the ideal hit that ended the slice. */
  scanned: number;
  /** True when the stop flag ended the scan before the slice was done. */
  stopped: boolean;
  /** Times the scan offered its core away (see Pacing). */
  pauses: number;
}

/**
 * When a scan gives its core away. A thread that never blocks is only taken off its core at the OS's scheduler
 * tick (4 ms on a HZ=250 kernel), and Linux's EEVDF scheduler does not always take it off sooner for a thread
 * that wakes up: the event loop that must hear a cancel, or the client sending one, can wait that long for a
 * core. A pause is a point where the OS picks again (src/pool/pacing.ts).
 */
export interface Pacing {
  /** Scanning time (ms) between two calls of `shouldPause`. */
  readonly everyMs: number;
  /** True → the scan calls `pause` before it goes on. */
  shouldPause(): boolean;
  /** Gives the core away: a yield to a waiting thread, or a short sleep. */
  pause(): void;
}

export interface Kernel {
  /**
   * Scans candidates [start, end). Stops early after the first hit that ends the search, or when `Atomics.load(stop, slot)` is
   * non-zero (read before the first candidate and then at least every STOP_CHECK_INTERVAL candidates). With a
   * `pacing`, pauses as it says; without, never.
   */
  scanSlice(start: number, end: number, stop: Int32Array, slot: number, pacing?: Pacing): SliceResult;
}

/** Which inner loop hashes: "wasm" (default) or "js" (for comparison and as a fallback). */
export type KernelEngine = "wasm" | "js";

/**
 * Prepares a kernel for one query (per-query tables; the WebAssembly module is compiled once per thread).
 * Throws RangeError, as the oracle does, when the lower-cased target is longer than 28 characters; `scanSlice`
 * throws RangeError for a slice that is not made of safe, non-negative integers.
 */
export function createKernel(query: SearchQuery, engine: KernelEngine = "wasm"): Kernel {
  const target = compileTarget(query.target);
  const { ideal, interesting } = query;
  const report = Math.max(query.ideal, query.interesting);
  // With a negative report nothing can be a hit: the scan is only bookkeeping.
  const scanner: RunScanner | undefined =
    report < 0
      ? undefined
      : engine === "wasm"
        ? createWasmScanner(target, report)
        : createJsScanner(target, report);
  const values = new Int32Array(HASHED_LENGTH);
  const exactDistance = (digest: Int32Array): number => {
    digestValues(digest, values);
    return valuesDistance(target, values);
  };
  const emptyDigest = new Int32Array(5);
  // Scratch for one run, reused: the scan loop allocates nothing per run, so a worker never pauses for a
  // scavenge in the middle of a search (a GC pause is time in which it cannot see its stop flag).
  const candidate = new Uint8Array(MAX_BLOCK_LENGTH);
  const words = new Int32Array(5);

  return {
    scanSlice(start, end, stop, slot, pacing) {
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0)
        throw new RangeError(`slice [${start}, ${end}) is not a range of candidate indices`);
      const hits: Hit[] = [];
      if (end <= start) return { hits, scanned: 0, stopped: false, pauses: 0 };
      let pauses = 0;
      // A pacing that asks every 0 ms or less never asks.
      const paced = pacing !== undefined && pacing.everyMs > 0 ? pacing : undefined;
      let askAt = paced === undefined ? 0 : performance.now() + paced.everyMs;
      let index = start;
      while (index < end) {
        // Relaxed read is enough: the flag only ever goes 0 → 1, and a late read costs at most one run.
        if (Atomics.load(stop, slot) !== 0) return { hits, scanned: index - start, stopped: true, pauses };
        if (paced !== undefined && performance.now() >= askAt) {
          const pause = paced.shouldPause();
          if (pause) {
            paced.pause();
            pauses++;
          }
          askAt = performance.now() + paced.everyMs;
          // The cancel may have come during the pause.
          if (pause) continue;
        }
        if (scanner === undefined) {
          index = Math.min(end, index + STOP_CHECK_INTERVAL);
          continue;
        }
        const length = lengthAt(index);
        if (length === 0) {
          sha1Block(0x80000000 | 0, 0, 0, emptyDigest);
          const distance = exactDistance(emptyDigest);
          if (distance <= report) {
            hits.push({ index, distance });
            if (endsSearch(ideal, interesting, distance)) return { hits, scanned: 1, stopped: false, pauses };
          }
          index++;
          continue;
        }
        if (length > MAX_BLOCK_LENGTH)
          throw new RangeError(`candidate index ${index} is beyond the search space`);
        writeCandidate(index, candidate);
        const from = candidate[length - 1]!;
        const count = Math.min(BYTE_VALUES - from, end - index);
        const to = from + count;
        blockWords(candidate, length, words);
        const w0 = words[0]!;
        const w1 = words[1]!;
        const varyWord = words[2]!;
        const shift = words[3]!;
        const w15 = words[4]!;
        for (let v = from; v < to; v++) {
          v = scanner.firstHit(w0, w1, varyWord, shift, w15, v, to);
          if (v < 0) break;
          const hitIndex = index + (v - from);
          const distance = exactDistance(scanner.digest);
          if (distance > report)
            throw new Error(`kernel engine ${engine} disagrees at candidate ${hitIndex}`);
          hits.push({ index: hitIndex, distance });
          if (endsSearch(ideal, interesting, distance))
            return { hits, scanned: hitIndex - start + 1, stopped: false, pauses };
        }
        index += count;
      }
      return { hits, scanned: end - start, stopped: false, pauses };
    },
  };
}
