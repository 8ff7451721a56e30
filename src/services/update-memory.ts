/**
 * What UpdateTasks streams hold in memory until their client half-closes, bounded per stream and for the whole
 * server. The count limit alone let one stream hold 10,000 × 4 KB descriptions (about 40 MB of heap), and nothing
 * bounded how many such streams were open at once.
 */
import { tooManyBytes, updateMemoryFull } from "../errors.ts";
import type { TaskUpdate } from "../store/task-store.ts";

/**
 * Most bytes one stream may hold: as much as one request message may carry (MAX_REQUEST_MESSAGE_BYTES), so a
 * stream holds no more than a unary call could. Room for 10,000 updates of up to ~290-byte descriptions, or
 * about 1,000 of the longest (1,000 emoji, 4 KB).
 */
export const MAX_UPDATE_BYTES_PER_STREAM = 4 * 1024 * 1024;

/** Most bytes all open streams of one server may hold together: 32 streams at the per-stream limit. */
export const MAX_HELD_UPDATE_BYTES = 128 * 1024 * 1024;

/** What a held update costs besides its description: the object, its bigint id and due date (~100 bytes measured). */
const UPDATE_OVERHEAD_BYTES = 128;

/**
 * The bytes an update is counted as: its description in UTF-8 (never fewer than the string takes on the heap)
 * plus a fixed overhead.
 */
export function heldBytes(update: TaskUpdate): number {
  return (
    UPDATE_OVERHEAD_BYTES + (update.description === undefined ? 0 : Buffer.byteLength(update.description))
  );
}

/** One stream's account with the server's {@link UpdateMemory}. */
export interface StreamMemory {
  /** Counts `update` as held, or throws RESOURCE_EXHAUSTED naming the limit it would pass (and counts nothing). */
  hold(update: TaskUpdate): void;
  /** Gives back everything the stream held; call once the stream has ended, however it ended. */
  release(): void;
}

/** The server-wide account: one per TodoService. */
export class UpdateMemory {
  readonly #perStreamBytes: number;
  readonly #totalBytes: number;
  #held = 0;

  constructor(perStreamBytes = MAX_UPDATE_BYTES_PER_STREAM, totalBytes = MAX_HELD_UPDATE_BYTES) {
    this.#perStreamBytes = perStreamBytes;
    this.#totalBytes = totalBytes;
  }

  openStream(): StreamMemory {
    let mine = 0;
    return {
      hold: (update) => {
        const bytes = heldBytes(update);
        if (mine + bytes > this.#perStreamBytes) throw tooManyBytes("updates", this.#perStreamBytes);
        if (this.#held + bytes > this.#totalBytes) throw updateMemoryFull(this.#totalBytes);
        mine += bytes;
        this.#held += bytes;
      },
      release: () => {
        this.#held -= mine;
        mine = 0;
      },
    };
  }
}
