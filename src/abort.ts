/**
 * Small abortable helpers shared by pool, store and server: every wait that can take long takes the signal
 * first, rejects with the signal's reason, and removes its listener when it settles.
 */

/**
 * A promise whose executor returns its cleanup. If `signal` aborts first, the promise rejects with
 * `signal.reason`; either way the cleanup runs once and the abort listener is removed.
 */
export function abortable<T>(
  signal: AbortSignal,
  executor: (resolve: (value: T) => void, reject: (reason: unknown) => void) => () => void,
): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    let cleanup: (() => void) | undefined;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      cleanup?.();
      fn();
    };
    const onAbort = () => settle(() => reject(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    cleanup = executor(
      (value) => settle(() => resolve(value)),
      (reason) => settle(() => reject(reason)),
    );
    // The executor may have settled synchronously, before `cleanup` was assigned.
    if (settled) cleanup();
  });
}

/**
 * The longest a Node timer waits: setTimeout turns a longer delay into 1 ms (with a TimeoutOverflowWarning), so
 * a 25-day wait would end at once. The command-line flags stay below it; timers here clamp to it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves after `ms` (at most MAX_TIMER_MS), or rejects with the signal's reason as soon as it aborts. */
export function delay(signal: AbortSignal, ms: number): Promise<void> {
  return abortable(signal, (resolve) => {
    const timer = setTimeout(resolve, Math.min(ms, MAX_TIMER_MS));
    return () => clearTimeout(timer);
  });
}

/**
 * Like AbortSignal.timeout(ms), but its timer keeps the process alive: AbortSignal.timeout's timer is unref'd,
 * so a shutdown waiting on it in an otherwise idle process would never wake. Waits at most MAX_TIMER_MS. Call
 * `clear()` when done. `reason` makes the abort reason (default: an Error saying how long it waited).
 */
export function refTimeout(
  ms: number,
  reason: () => unknown = () => new Error(`timed out after ${ms} ms`),
): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(reason()), Math.min(ms, MAX_TIMER_MS));
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
