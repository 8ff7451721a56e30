/**
 * Backpressure from stdout to a streamed call. Into a pipe whose reader is slower than the stream (`cancelkit todo
 * list | less`), writes wait in the process; a streaming command that read on regardless held the whole stream in
 * memory, and the server, read as fast as it sent, went on to the end: every page of ListTasks read, FindRange's
 * search never paused. Waiting here until the pipe has room stops the command reading its call, so the server
 * waits too, as it does for any client that stops reading.
 */

/** Resolves once stdout has room again (at once if it has), or when `signal` aborts (Ctrl-C, the reader gone). */
export function stdoutRoom(signal: AbortSignal): Promise<void> {
  const out = process.stdout;
  if (!out.writableNeedDrain || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
    signal.addEventListener("abort", done);
  });
}
