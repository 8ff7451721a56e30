/**
 * The pool's bookkeeping, free of threads: admission (limits, queue), stop slots, round-robin slice assignment
 * across running searches, in-order commit of slice results, back-pressure, and how each search ends.
 *
 * A search whose consumer stops reading (back-pressure) is parked once its slices in flight are back: it gives up
 * its running place and its stop slot, so that clients that never read cannot hold every place, and takes the
 * head of the queue when its consumer reads again.
 *
 * A search is a sequence of slices [start, end) of candidate order. Slices are dispatched in order but may
 * complete out of order; results are committed strictly in order, so the hits a consumer sees, and the hit
 * that ends the search (`endsSearch`), do not depend on the number of workers or on timing.
 */
import { budgetExhausted, clientOverShare, searchSpaceExhausted, serverFull } from "../errors.ts";
import { SEARCH_SPACE_END } from "../search/candidates.ts";
import type { SearchQuery } from "../search/kernel.ts";
import { endsSearch, type Hit } from "../search/reference.ts";
import { searchFailed } from "./errors.ts";
import { HitChannel, type RunHooks, type SearchRun } from "./search-run.ts";
import { clearStop, raiseStop } from "./shared-state.ts";
import { SliceSizer } from "./slice-sizer.ts";

export interface SearchRequest {
  query: SearchQuery;
  /** Maximum candidates examined (indices [0, budget)); 0 = unlimited: the whole space [0, SEARCH_SPACE_END). */
  budget: number;
  /** Key for the per-client share (e.g. the authenticated user or the peer address). */
  client: string;
}

export interface SchedulerLimits {
  maxRunning: number;
  maxQueued: number;
  maxPerClient: number;
  maxBufferedHits: number;
  /** Slices of one search dispatched or completed but not yet committed, at most. */
  maxAheadSlices: number;
  /** Fixed candidates per slice, or undefined to tune it from measured kernel speed. */
  sliceSize: number | undefined;
}

/** One slice handed to a worker. */
export interface Slice {
  readonly search: Search;
  readonly seq: number;
  readonly start: number;
  readonly end: number;
}

/** What a worker reported for a slice that ran (not an error). */
export interface SliceOutcome {
  /** Flattened [index, distance, …] in candidate order. */
  hits: number[];
  scanned: number;
  stopped: boolean;
  elapsedMs: number;
  /** When the worker left the kernel (ms, the machine's monotonic clock); absent if it never entered. */
  leftAt?: number | undefined;
}

interface Completed {
  hits: number[];
  scanned: number;
}

/** How a search ended, for the consumer. */
type Ending =
  | { kind: "done" }
  | { kind: "exhausted" }
  | { kind: "returned" }
  | { kind: "cancelled"; reason: unknown }
  | { kind: "failed"; error: unknown; afterBuffered: boolean };

/** The scheduler's record of one search. */
export class Search {
  readonly id: number;
  readonly query: SearchQuery;
  readonly budget: number;
  readonly client: string;
  readonly channel: HitChannel;
  /** "parked": waiting for its consumer to read, with no slice in flight, no running place and no stop slot. */
  phase: "queued" | "running" | "parked" | "ended" = "queued";
  /** Stop slot while running and while slices are still in flight after the end; -1 otherwise. */
  slot = -1;
  /**
   * Next candidate to dispatch, and the exclusive bound of dispatch: the budget or the end of the candidate space,
   * or just past a known hit that ends the search.
   */
  nextStart = 0;
  stopAt: number;
  nextSeq = 0;
  commitSeq = 0;
  readonly completed = new Map<number, Completed>();
  uncommittedHits = 0;
  inFlight = 0;
  slicesStarted = 0;
  scanned = 0;
  /** Latest `leftAt` of this search's slices that ran (not errors); undefined before the first reply. */
  lastLeftKernelAt: number | undefined;
  /** Set when back-pressure held the search back, so that the next read wakes the dispatcher. */
  paused = false;
  detach: () => void = () => {};

  constructor(id: number, signal: AbortSignal, request: SearchRequest, hooks: (search: Search) => RunHooks) {
    this.id = id;
    this.query = request.query;
    this.budget = request.budget;
    this.client = request.client;
    this.stopAt = request.budget > 0 ? Math.min(request.budget, SEARCH_SPACE_END) : SEARCH_SPACE_END;
    this.channel = new HitChannel(signal, this, hooks(this));
  }
}

export class Scheduler {
  readonly #state: Int32Array;
  readonly #limits: SchedulerLimits;
  readonly #wake: () => void;
  readonly #cancelStopped: (slot: number) => void;
  readonly #sizer = new SliceSizer();
  readonly #running: Search[] = [];
  readonly #queue: Search[] = [];
  readonly #parked = new Set<Search>();
  readonly #freeSlots: number[] = [];
  readonly #perClient = new Map<string, number>();
  #cursor = 0;
  #nextId = 1;

  /**
   * @param state shared state with `stopSlots` stop flags
   * @param wake called (synchronously) whenever a slice may have become available to dispatch
   * @param cancelStopped called (synchronously) right after the stop flag of a search that was cancelled (its
   *   signal aborted, or its consumer stopped reading) has been raised while slices of it were in flight;
   *   not for a search that ended with its answer or its budget (or the candidate space), whose result must go
   *   out first
   */
  constructor(
    state: Int32Array,
    stopSlots: number,
    limits: SchedulerLimits,
    wake: () => void,
    cancelStopped: (slot: number) => void = () => {},
  ) {
    this.#state = state;
    this.#limits = limits;
    this.#wake = wake;
    this.#cancelStopped = cancelStopped;
    for (let slot = stopSlots - 1; slot >= 0; slot--) this.#freeSlots.push(slot);
  }

  get running(): number {
    return this.#running.length;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Searches parked until their consumer reads (back-pressure): they hold no running place. */
  get waitingForReader(): number {
    return this.#parked.size;
  }

  /**
   * Admits a search: running at once if a place is free, queued otherwise.
   * @throws signal.reason if already aborted; clientOverShare / serverFull when over the limits. Nothing starts.
   */
  submit(signal: AbortSignal, request: SearchRequest): SearchRun {
    signal.throwIfAborted();
    const { maxPerClient, maxQueued } = this.#limits;
    const clientCount = this.#perClient.get(request.client) ?? 0;
    if (maxPerClient > 0 && clientCount >= maxPerClient) throw clientOverShare(maxPerClient);
    const runsNow = this.#queue.length === 0 && this.#canRunAnother();
    if (!runsNow && this.#queue.length >= maxQueued) throw serverFull(maxQueued);

    const search = new Search(this.#nextId++, signal, request, (s) => ({
      pulled: () => this.#pulled(s),
      returned: () => this.#end(s, { kind: "returned" }),
    }));
    this.#perClient.set(request.client, clientCount + 1);
    const onAbort = () => this.#end(search, { kind: "cancelled", reason: signal.reason });
    signal.addEventListener("abort", onAbort, { once: true });
    search.detach = () => signal.removeEventListener("abort", onAbort);

    if (runsNow) this.#start(search);
    else this.#queue.push(search);
    this.#wake();
    return search.channel;
  }

  /** The next slice to dispatch, taking running searches in turn; undefined if none can progress now. */
  takeSlice(): Slice | undefined {
    const count = this.#running.length;
    for (let i = 0; i < count; i++) {
      const index = (this.#cursor + i) % count;
      const search = this.#running[index] as Search;
      if (!this.#dispatchable(search)) continue;
      this.#cursor = (index + 1) % count;
      const size = this.#limits.sliceSize ?? this.#sizer.size();
      const start = search.nextStart;
      const end = Math.min(start + size, search.stopAt);
      search.nextStart = end;
      search.inFlight++;
      search.slicesStarted++;
      return { search, seq: search.nextSeq++, start, end };
    }
    return undefined;
  }

  /** A worker finished a slice (possibly stopped). Commits whatever is now in order. */
  sliceDone(slice: Slice, outcome: SliceOutcome): void {
    const search = slice.search;
    search.inFlight--;
    if (outcome.leftAt !== undefined) {
      search.lastLeftKernelAt = Math.max(search.lastLeftKernelAt ?? outcome.leftAt, outcome.leftAt);
    }
    if (search.phase !== "running") {
      this.#releaseIfDrained(search);
      return;
    }
    if (outcome.stopped) {
      // Only an ended search has its flag raised; anything else means a slot was shared by mistake.
      this.#fail(
        search,
        new Error(`slice ${slice.start}..${slice.end} stopped while its search was running`),
      );
      return;
    }
    this.#sizer.record(outcome.scanned, outcome.elapsedMs);
    const hitCount = outcome.hits.length / 2;
    const lastDistance = outcome.hits[outcome.hits.length - 1];
    if (
      lastDistance !== undefined &&
      endsSearch(search.query.ideal, search.query.interesting, lastDistance)
    ) {
      // Nothing past the hit that ends the search is needed, whatever the slices before it hold.
      search.stopAt = Math.min(search.stopAt, slice.start + outcome.scanned);
    }
    search.completed.set(slice.seq, { hits: outcome.hits, scanned: outcome.scanned });
    search.uncommittedHits += hitCount;
    this.#commit(search);
    // With nothing in flight every dispatched slice is committed; a full buffer now can only wait for the reader.
    if (search.phase === "running" && search.inFlight === 0 && this.#backPressured(search))
      this.#park(search);
    this.#wake();
  }

  /** A slice could not run (kernel exception, crashed worker): its search fails with INTERNAL. */
  sliceFailed(slice: Slice, cause: unknown): void {
    const search = slice.search;
    search.inFlight--;
    if (search.phase !== "running") this.#releaseIfDrained(search);
    else this.#fail(search, cause);
  }

  /** Ends every queued and running search with `reason` (shutdown). */
  endAll(reason: unknown): void {
    for (const search of [...this.#queue, ...this.#running, ...this.#parked]) {
      this.#end(search, { kind: "failed", error: reason, afterBuffered: false });
    }
  }

  #dispatchable(search: Search): boolean {
    if (search.nextStart >= search.stopAt) return false;
    if (search.inFlight + search.completed.size >= this.#limits.maxAheadSlices) return false;
    if (this.#backPressured(search)) {
      search.paused = true;
      return false;
    }
    return true;
  }

  #backPressured(search: Search): boolean {
    return search.channel.buffered + search.uncommittedHits >= this.#limits.maxBufferedHits;
  }

  #pulled(search: Search): void {
    if (!search.paused || this.#backPressured(search)) return;
    if (search.phase !== "running" && search.phase !== "parked") return;
    search.paused = false;
    if (search.phase === "parked") {
      // Admitted before anything queued: it goes first, as soon as a place and a slot are free.
      this.#parked.delete(search);
      search.phase = "queued";
      this.#queue.unshift(search);
      this.#promote();
    }
    this.#wake();
  }

  /** Gives up the running place and the stop slot of a search that waits for its reader, with nothing in flight. */
  #park(search: Search): void {
    search.paused = true;
    this.#removeRunning(search);
    this.#freeSlots.push(search.slot);
    search.slot = -1;
    search.phase = "parked";
    this.#parked.add(search);
    this.#promote();
  }

  #commit(search: Search): void {
    for (;;) {
      const completed = search.completed.get(search.commitSeq);
      if (completed === undefined) return;
      search.completed.delete(search.commitSeq);
      search.commitSeq++;
      search.uncommittedHits -= completed.hits.length / 2;
      search.scanned += completed.scanned;
      let ended = false;
      for (let i = 0; i < completed.hits.length; i += 2) {
        const hit: Hit = { index: completed.hits[i] as number, distance: completed.hits[i + 1] as number };
        search.channel.push(hit);
        if (endsSearch(search.query.ideal, search.query.interesting, hit.distance)) ended = true;
      }
      if (ended) {
        this.#end(search, { kind: "done" });
        return;
      }
      // Everything up to the bound of dispatch is committed and no hit ended the search: the budget, or for a
      // search without one the whole candidate space, has been searched.
      if (search.scanned >= search.stopAt) {
        this.#end(search, { kind: "exhausted" });
        return;
      }
    }
  }

  #fail(search: Search, cause: unknown): void {
    this.#end(search, { kind: "failed", error: searchFailed(cause), afterBuffered: false });
  }

  /** Ends a search once, however it ends: frees its places at once, and its stop slot once drained. */
  #end(search: Search, ending: Ending): void {
    if (search.phase === "ended") return;
    const wasRunning = search.phase === "running";
    const wasParked = search.phase === "parked";
    search.phase = "ended";
    search.detach();
    const clientCount = (this.#perClient.get(search.client) ?? 1) - 1;
    if (clientCount > 0) this.#perClient.set(search.client, clientCount);
    else this.#perClient.delete(search.client);

    if (wasRunning) {
      this.#removeRunning(search);
      search.completed.clear();
      search.uncommittedHits = 0;
      // In-flight slices of an ended search are useless: stop them at their next check of the flag.
      if (search.inFlight > 0) {
        raiseStop(this.#state, search.slot);
        if (ending.kind === "cancelled" || ending.kind === "returned") this.#cancelStopped(search.slot);
      }
      this.#releaseIfDrained(search);
    } else if (wasParked) {
      // Nothing in flight and no slot: nothing to stop.
      this.#parked.delete(search);
    } else {
      // Queued: removed before any slice existed (or, resumed from parked, while none was in flight), so no
      // worker ever sees it.
      this.#queue.splice(this.#queue.indexOf(search), 1);
    }

    switch (ending.kind) {
      case "done":
        search.channel.end();
        break;
      case "exhausted":
        search.channel.fail(
          search.budget > 0 && search.budget <= SEARCH_SPACE_END
            ? budgetExhausted(search.budget)
            : searchSpaceExhausted(SEARCH_SPACE_END),
          true,
        );
        break;
      case "returned":
        break;
      case "cancelled":
        search.channel.fail(ending.reason, false);
        break;
      case "failed":
        search.channel.fail(ending.error, ending.afterBuffered);
        break;
    }
    this.#promote();
    this.#wake();
  }

  #removeRunning(search: Search): void {
    const index = this.#running.indexOf(search);
    if (index < 0) return;
    this.#running.splice(index, 1);
    if (index < this.#cursor) this.#cursor--;
    if (this.#cursor >= this.#running.length) this.#cursor = 0;
  }

  /** Frees the stop slot of an ended search once no slice that could read it is in flight. */
  #releaseIfDrained(search: Search): void {
    if (search.phase !== "ended" || search.inFlight > 0 || search.slot < 0) return;
    this.#freeSlots.push(search.slot);
    search.slot = -1;
    this.#promote();
  }

  #canRunAnother(): boolean {
    return this.#running.length < this.#limits.maxRunning && this.#freeSlots.length > 0;
  }

  #promote(): void {
    while (this.#queue.length > 0 && this.#canRunAnother()) {
      this.#start(this.#queue.shift() as Search);
    }
  }

  #start(search: Search): void {
    search.slot = this.#freeSlots.pop() as number;
    clearStop(this.#state, search.slot);
    search.phase = "running";
    this.#running.push(search);
  }
}
