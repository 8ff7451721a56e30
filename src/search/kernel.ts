/**
 * The search kernel: scans one slice of candidate order inside a worker thread, checking a shared stop flag
 * every few thousand candidates so that a cancel reaches it within well under a millisecond.
 *
 * This is the simple version (node:crypto + the plain distance); it is the contract the fast kernel keeps.
 */
import { hash } from "node:crypto";
import { candidateAt } from "./candidates.ts";
import { type Hit, substringDistance } from "./reference.ts";

/** Candidates scanned between two reads of the stop flag. */
export const STOP_CHECK_INTERVAL = 4096;

/** What a search looks for; `interesting` < 0 means only ideal hits are reported (Find). */
export interface SearchQuery {
  target: string;
  ideal: number;
  interesting: number;
}

export interface SliceResult {
  /** Hits in candidate order; if the last one is ideal (distance ≤ ideal) the search is over. */
  hits: Hit[];
  /** Candidates examined, including the ideal hit that ended the slice. */
  scanned: number;
  /** True when the stop flag ended the scan before the slice was done. */
  stopped: boolean;
}

export interface Kernel {
  /**
   * Scans candidates [start, end). Stops early after the first ideal hit, or when `Atomics.load(stop, slot)` is
   * non-zero (read every STOP_CHECK_INTERVAL candidates).
   */
  scanSlice(start: number, end: number, stop: Int32Array, slot: number): SliceResult;
}

export function createKernel(query: SearchQuery): Kernel {
  const report = Math.max(query.ideal, query.interesting);
  return {
    scanSlice(start, end, stop, slot) {
      const hits: Hit[] = [];
      for (let index = start; index < end; index++) {
        // Relaxed read is enough: the flag only ever goes 0 → 1, and a late read costs at most one interval.
        if ((index - start) % STOP_CHECK_INTERVAL === 0 && Atomics.load(stop, slot) !== 0) {
          return { hits, scanned: index - start, stopped: true };
        }
        const distance = substringDistance(hash("sha1", candidateAt(index), "base64"), query.target);
        if (distance <= report) {
          hits.push({ index, distance });
          if (distance <= query.ideal) return { hits, scanned: index - start + 1, stopped: false };
        }
      }
      return { hits, scanned: end - start, stopped: false };
    },
  };
}
