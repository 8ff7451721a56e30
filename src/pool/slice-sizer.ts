/**
 * Picks the number of candidates per slice so that one slice takes about TARGET_SLICE_MS with whatever kernel
 * is running: long enough that the per-slice cost (a message each way) is well under 1 % of the work, short
 * enough that round-robin between searches stays fine-grained. Cancellation does not depend on it: the kernel
 * checks the stop flag every STOP_CHECK_INTERVAL candidates whatever the slice size.
 */

export const TARGET_SLICE_MS = 4;
/** Before any measurement: small, so that the first answers of short searches come fast. */
export const INITIAL_SLICE_SIZE = 4096;
export const MIN_SLICE_SIZE = 1024;
export const MAX_SLICE_SIZE = 1 << 24;

/** Slices shorter than this say little about the rate (the ideal hit ended them, or they were clipped). */
const MIN_SAMPLE = 512;
/** Weight of the newest measurement in the moving average. */
const SMOOTHING = 0.2;

export class SliceSizer {
  #msPerCandidate: number | undefined;

  /** Records a completed (not stopped) slice. */
  record(scanned: number, elapsedMs: number): void {
    if (scanned < MIN_SAMPLE || !(elapsedMs > 0)) return;
    const rate = elapsedMs / scanned;
    this.#msPerCandidate =
      this.#msPerCandidate === undefined ? rate : this.#msPerCandidate * (1 - SMOOTHING) + rate * SMOOTHING;
  }

  /** Candidates per slice now (a multiple of MIN_SLICE_SIZE). */
  size(): number {
    if (this.#msPerCandidate === undefined) return INITIAL_SLICE_SIZE;
    const wanted = Math.floor(TARGET_SLICE_MS / this.#msPerCandidate / MIN_SLICE_SIZE) * MIN_SLICE_SIZE;
    return Math.min(MAX_SLICE_SIZE, Math.max(MIN_SLICE_SIZE, wanted));
  }
}
