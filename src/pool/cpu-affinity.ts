/**
 * Which CPUs a thread of this process may run on: libc's `sched_getaffinity`/`sched_setaffinity`, called through
 * koffi (a foreign-function library from npm with prebuilt binaries), because Node has no API for a thread's CPU
 * set. Linux with glibc only (`libc.so.6`); elsewhere, or where koffi or libc cannot be loaded (musl, a platform
 * without a prebuilt koffi), `loadCpuAffinity` returns undefined and the callers work without it.
 *
 * Setting the set of a thread that waits for a CPU elsewhere moves it at once: Linux migrates a runnable thread
 * whose current CPU is no longer allowed. That is what stop-handoff.ts uses it for.
 */
import { readlinkSync } from "node:fs";
import { loadLibc } from "./libc.ts";

/** Bytes of a CPU mask: 1,024 CPUs, glibc's `cpu_set_t`. */
export const CPU_MASK_BYTES = 128;

export interface CpuAffinity {
  /** The CPU the calling thread is running on. */
  currentCpu(): number;
  /** Reads the CPU set of thread `tid` of this process into `mask`; false if it could not. */
  get(tid: number, mask: Uint8Array): boolean;
  /** Restricts thread `tid` of this process to the CPUs in `mask`; false if it could not. */
  set(tid: number, mask: Uint8Array): boolean;
  /**
   * The CPU time thread `tid` of this process has used, in ns, brought up to date by the call if the thread is on
   * a CPU: two reads that differ mean it is running now. -1 if it cannot be read.
   */
  cpuTimeNs(tid: number): number;
}

type MaskCall = (tid: number, bytes: number, mask: Uint8Array) => number;
type Timespec = { tv_sec?: number; tv_nsec?: number };

/** Linux's clock id for a thread's CPU time: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED), i.e. (~tid << 3) | 4 | 2. */
function threadCpuClock(tid: number): number {
  return (~tid << 3) | 6;
}

/** The libc calls, or undefined where they are not available. Load once per thread that needs them. */
export function loadCpuAffinity(): CpuAffinity | undefined {
  const loaded = loadLibc();
  if (loaded === undefined) return undefined;
  const { koffi, libc } = loaded;
  try {
    const currentCpu = libc.func("int sched_getcpu(void)") as () => number;
    const getMask = libc.func(
      "int sched_getaffinity(int tid, size_t bytes, _Out_ uint8_t *mask)",
    ) as MaskCall;
    const setMask = libc.func(
      "int sched_setaffinity(int tid, size_t bytes, const uint8_t *mask)",
    ) as MaskCall;
    // struct timespec: two `long`s, whatever the word size.
    const timespec = koffi.struct({ tv_sec: "long", tv_nsec: "long" });
    const clockGetTime = libc.func("clock_gettime", "int", ["int", koffi.out(koffi.pointer(timespec))]) as (
      clock: number,
      time: Timespec,
    ) => number;
    const time: Timespec = {};
    if (currentCpu() < 0) return undefined;
    return {
      currentCpu,
      get: (tid, mask) => getMask(tid, mask.length, mask) === 0,
      set: (tid, mask) => setMask(tid, mask.length, mask) === 0,
      cpuTimeNs: (tid) =>
        clockGetTime(threadCpuClock(tid), time) === 0 ? (time.tv_sec ?? 0) * 1e9 + (time.tv_nsec ?? 0) : -1,
    };
  } catch {
    return undefined;
  }
}

/** A mask of CPU_MASK_BYTES bytes with only `cpu` set. */
export function singleCpuMask(cpu: number, mask = new Uint8Array(CPU_MASK_BYTES)): Uint8Array {
  mask.fill(0);
  mask[cpu >> 3] = 1 << (cpu & 7);
  return mask;
}

/**
 * The Linux thread id of the calling thread (what `sched_setaffinity` takes), from /proc/thread-self, which
 * links to "PID/task/TID"; 0 where there is no such file. Needs no koffi, so worker threads need not load it.
 */
export function currentThreadId(): number {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").at(-1));
    return Number.isSafeInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0;
  }
}
