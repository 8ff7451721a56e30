/**
 * Resolves on the next turn of the event loop (after pending I/O callbacks). Listings await it between pages
 * so an abort arriving from the network is delivered even to a consumer that never waits on I/O itself.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
