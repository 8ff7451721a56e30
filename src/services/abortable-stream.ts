/**
 * A request stream that ends when the call does. Connect hands a handler the client's messages as an async
 * iterable that only ends when the client half-closes or resets the stream, so a handler waiting for the next
 * message would not notice its own deadline or the server's shutdown until the client did something.
 */

/**
 * Yields the messages of `source` until `signal` aborts; a pending wait for the next message then rejects with
 * `signal.reason` at once, and the source iterator is closed (`return()`), so the framework releases the
 * stream. The abort listener is removed when iteration ends, whichever way.
 */
export async function* untilAborted<T>(signal: AbortSignal, source: AsyncIterable<T>): AsyncGenerator<T> {
  signal.throwIfAborted();
  const iterator = source[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {}); // observed through the race below; never an unhandled rejection
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) return;
      yield next.value;
      signal.throwIfAborted();
    }
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
    // Tell the source we stop reading (a no-op once it has ended).
    void iterator.return?.()?.catch(() => {});
  }
}
