/** Shared pieces of the pool tests: pools that are always closed, queries, collecting a run. */
import type { TestContext } from "node:test";
import {
  type Hit,
  SearchPool,
  type SearchPoolOptions,
  type SearchQuery,
  type SearchRun,
} from "../../src/pool/pool.ts";

/** Far more candidates than the kernel could scan during a test: only the stop flag can end such a slice. */
export const ENDLESS_SLICE = 2 ** 40;

/** A query that never hits in any search we run (8 characters at distance 0: ~1e-11 per candidate). */
export const NEVER: SearchQuery = { target: "zzzzzzzz", ideal: 0, interesting: -1 };

/** FindRange("doctor", ideal 1, interesting 3): 663 hits, the last at index 57872 with distance 1. */
export const DOCTOR_RANGE: SearchQuery = { target: "doctor", ideal: 1, interesting: 3 };

export function find(target: string, ideal: number): SearchQuery {
  return { target, ideal, interesting: -1 };
}

/** A pool closed when the test ends, whatever happens. */
export function usePool(t: TestContext, options: Partial<SearchPoolOptions> = {}): SearchPool {
  const pool = new SearchPool({ workers: 2, maxQueued: 16, maxPerClient: 0, ...options });
  t.after(() => pool.close());
  return pool;
}

/** Reads a run to its end; returns the hits and the error it ended with, if any. */
export async function collect(run: SearchRun): Promise<{ hits: Hit[]; error: unknown }> {
  const hits: Hit[] = [];
  try {
    for await (const hit of run) hits.push(hit);
    return { hits, error: undefined };
  } catch (error) {
    return { hits, error };
  }
}

/** A signal that is never aborted, for searches the test does not cancel. */
export function noAbort(): AbortSignal {
  return new AbortController().signal;
}
