/**
 * Hands the calling thread's core to a thread that waits for it: libc's `sched_yield`, called through koffi (as
 * cpu-affinity.ts calls libc), because Node has no API for it. On Linux's fair scheduler a yield with nobody
 * waiting on the thread's CPU returns at once (0.7 µs through koffi on this project's VM); with a thread waiting
 * there, the yielding one goes behind it. So a worker can yield every few dozen microseconds and lose its core
 * only when another thread wants that core, while that thread runs, where a timed sleep left the core idle for
 * the timer slack (~80 µs) whether the waiter was queued on it or not.
 *
 * Linux with glibc only (`libc.so.6`); elsewhere, or where koffi cannot be loaded, `loadCoreYield` returns
 * undefined and the workers pace with short sleeps instead (pacing.ts).
 */
import { createRequire } from "node:module";

/** `sched_yield` of the calling thread, or undefined where it cannot be called. Load once per thread. */
export function loadCoreYield(): (() => void) | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    // Loaded on demand, inside the try: a missing prebuilt binary must cost this feature, not the server.
    const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
    const schedYield = koffi.load("libc.so.6").func("int sched_yield(void)") as () => number;
    if (schedYield() !== 0) return undefined;
    return () => {
      schedYield();
    };
  } catch {
    return undefined;
  }
}
