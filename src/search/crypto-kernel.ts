/**
 * The simple kernel: node:crypto SHA-1, a base64 string and the plain distance for every candidate. Kept as the
 * same-run baseline of the benchmark and as a second implementation of the Kernel contract in tests.
 */
import { hash } from "node:crypto";
import { candidateAt } from "./candidates.ts";
import type { Kernel, SearchQuery } from "./kernel.ts";
import { endsSearch, type Hit, substringDistance } from "./reference.ts";

export const CRYPTO_STOP_CHECK_INTERVAL = 4096;

export function createCryptoKernel(query: SearchQuery): Kernel {
  const report = Math.max(query.ideal, query.interesting);
  return {
    scanSlice(start, end, stop, slot) {
      const hits: Hit[] = [];
      for (let index = start; index < end; index++) {
        if ((index - start) % CRYPTO_STOP_CHECK_INTERVAL === 0 && Atomics.load(stop, slot) !== 0) {
          return { hits, scanned: index - start, stopped: true, pauses: 0 };
        }
        const distance = substringDistance(hash("sha1", candidateAt(index), "base64"), query.target);
        if (distance <= report) {
          hits.push({ index, distance });
          if (endsSearch(query.ideal, query.interesting, distance))
            return { hits, scanned: index - start + 1, stopped: false, pauses: 0 };
        }
      }
      return { hits, scanned: end - start, stopped: false, pauses: 0 };
    },
  };
}
