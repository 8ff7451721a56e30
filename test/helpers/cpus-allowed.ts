/** The CPUs a thread of this process may run on, as Linux reports them in /proc (for the CPU-affinity tests). */
import { readFileSync } from "node:fs";
import { CPU_MASK_BYTES } from "../../src/pool/cpu-affinity.ts";

/** CPU numbers of a list such as "0-3,6" (the form of Cpus_allowed_list). */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(",")) {
    const [first, last = first] = part.split("-").map(Number) as [number, number?];
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** The CPUs thread `tid` of this process may run on ("thread-self" for the calling thread). */
export function cpusAllowed(tid: number | "thread-self"): number[] {
  const path = tid === "thread-self" ? "/proc/thread-self/status" : `/proc/self/task/${tid}/status`;
  const line = readFileSync(path, "utf8")
    .split("\n")
    .find((l) => l.startsWith("Cpus_allowed_list:"));
  if (line === undefined) throw new Error(`no Cpus_allowed_list in ${path}`);
  return parseCpuList(line.slice(line.indexOf(":") + 1));
}

/** CPU numbers set in a mask of `sched_getaffinity`'s form. */
export function cpusInMask(mask: Uint8Array): number[] {
  const cpus: number[] = [];
  for (let cpu = 0; cpu < mask.length * 8; cpu++) if (mask[cpu >> 3]! & (1 << (cpu & 7))) cpus.push(cpu);
  return cpus;
}

/** A mask of `sched_setaffinity`'s form with exactly `cpus` set (the inverse of cpusInMask). */
export function maskOf(
  cpus: readonly number[],
  mask: Uint8Array = new Uint8Array(CPU_MASK_BYTES),
): Uint8Array {
  mask.fill(0);
  for (const cpu of cpus) mask[cpu >> 3]! |= 1 << (cpu & 7);
  return mask;
}
