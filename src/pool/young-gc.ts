/**
 * Takes V8's young-generation collection (a scavenge) when a search starts, if the young generation is already
 * well filled, rather than when V8 would. A scavenge stops the event loop for 2–5 ms on this server (it copies what
 * Connect's per-call pipeline keeps alive; docs/performance.md), and about half of the in-process cancels slower
 * than 2 ms had one start within 0.4 ms after the cancel, before the stop flag went up. Taken at a search's start,
 * the pause comes before that search's work begins, and the young generation has room for the calls that follow.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * How full the young generation must be for a search's start to collect it. With it, over a bench run of 1,000
 * in-process cancels per server on a 2-core VM, V8 scavenged by itself 7 times instead of 141 (mostly its own
 * minor-GC task, 5.5 ms each at the mean), and 177 times as searches started (3.9 ms each; the same total pause);
 * cancels over 2 ms on the default server fell from 9–19 to 6–9 per 1,000 (four paired runs), and from 15–22 to
 * 9–17 with the grpc-go client (three).
 */
export const SCAVENGE_AT = 0.6;

type CollectYoung = () => void;
let collectYoung: CollectYoung | undefined;

/**
 * V8's `gc` function, fetched once from a context made while --expose-gc is on, then turned off again, so that no
 * other code gets a global `gc` (the expose-gc package sets one on globalThis) and the server needs no extra flag.
 */
function v8CollectYoung(): CollectYoung {
  setFlagsFromString("--expose-gc");
  try {
    const gc = runInNewContext("gc") as (options: { type: "minor" }) => void;
    return () => gc({ type: "minor" });
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}

/** Fill of the young generation's active semi-space, 0–1 (the other semi-space is the copy target). */
export function youngGenerationFill(): number {
  const young = getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
  if (young === undefined) return 0;
  const capacity = young.space_used_size + young.space_available_size;
  return capacity > 0 ? young.space_used_size / capacity : 0;
}

/** Scavenges now if the young generation is at least `fullAt` full; returns whether it did. */
export function scavengeIfFilled(fullAt = SCAVENGE_AT): boolean {
  if (youngGenerationFill() < fullAt) return false;
  collectYoung ??= v8CollectYoung();
  collectYoung();
  return true;
}
