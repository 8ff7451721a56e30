/**
 * Small abortable helpers shared by pool, store and server: every wait that can take long takes the signal
 * first, rejects with the signal's reason, and removes its listener when it settles (STYLE §7.2, §7.4).
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

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function delay(signal: AbortSignal, ms: number): Promise<void> {
  return abortable(signal, (resolve) => {
    const timer = setTimeout(resolve, ms);
    return () => clearTimeout(timer);
  });
}

/**
 * Like AbortSignal.timeout(ms), but its timer keeps the process alive: AbortSignal.timeout's timer is unref'd,
 * so a shutdown waiting on it in an otherwise idle process would never wake. Call `clear()` when done.
 */
export function refTimeout(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`timed out after ${ms} ms`)), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
