/**
 * Waits for a condition on server-side state that offers no event (pool counters), checking on every turn of
 * the event loop; the timeout is a generous sanity bound, not a timing assertion.
 */
export async function waitUntil(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Whether a promise has settled yet (without waiting for it). */
export async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol("pending");
  const winner = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    Promise.resolve(pending),
  ]);
  return winner !== pending;
}
