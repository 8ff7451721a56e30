/**
 * The C library of this Linux process, reached through koffi (a foreign-function library from npm with prebuilt
 * binaries), for the thread calls Node has no API for (cpu-affinity.ts, core-yield.ts). Linux with glibc only
 * (`libc.so.6`): elsewhere, or where koffi or libc cannot be loaded (musl, a platform without a prebuilt koffi),
 * undefined, and the callers work without them.
 */
import { createRequire } from "node:module";

type Koffi = typeof import("koffi");

export interface Libc {
  koffi: Koffi;
  libc: ReturnType<Koffi["load"]>;
}

/** koffi and libc, or undefined where they cannot be loaded. Load once per thread that calls them. */
export function loadLibc(): Libc | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    // Loaded on demand, inside the try: a missing prebuilt binary must cost these features, not the server.
    const koffi = createRequire(import.meta.url)("koffi") as Koffi;
    return { koffi, libc: koffi.load("libc.so.6") };
  } catch {
    return undefined;
  }
}
