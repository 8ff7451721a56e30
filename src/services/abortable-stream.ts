/**
 * A request stream that ends when the call does. Connect hands a handler the client's messages as an async
 * iterable that only ends when the client half-closes or resets the stream, so a handler waiting for the next
 * message would not notice its own deadline or the server's shutdown until the client did something.
 */

/**
 * Yields the messages of `source` until `signal` aborts; a pending wait for the next message then rejects with
 * `signal.reason` at once, and the source iterator is closed (`return()`), so the framework releases the
 * stream. The abort listener is removed when iteration ends, whichever way.
 *
 * One listener rejects whichever wait is current. Racing each wait against one long-lived "aborted" promise
 * instead would leave a reaction on that promise per message, held until the stream ends: 127 MB over 198,000
 * messages here (about 640 bytes each), unbounded for a DeleteTasks stream.
 */
export async function* untilAborted<T>(signal: AbortSignal, source: AsyncIterable<T>): AsyncGenerator<T> {
  signal.throwIfAborted();
  const iterator = source[Symbol.asyncIterator]();
  let rejectWait: ((reason: unknown) => void) | undefined;
  const onAbort = () => rejectWait?.(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const next = await new Promise<IteratorResult<T>>((resolve, reject) => {
        rejectWait = reject;
        iterator.next().then(resolve, reject);
      });
      rejectWait = undefined;
      if (next.done) return;
      yield next.value;
      signal.throwIfAborted();
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    // Tell the source we stop reading (a no-op once it has ended).
    void iterator.return?.()?.catch(() => {});
  }
}
