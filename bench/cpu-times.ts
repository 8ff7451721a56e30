/**
 * The machine's CPU time as Linux counts it in /proc/stat, for the notes that say what else took the CPUs while a
 * figure was measured. Two takers are told apart: other processes of this guest, and the host itself, which a
 * guest told of it (KVM's steal time) counts as `steal`: time a vCPU had work and the hypervisor did not run it.
 * A thread's own CPU clock leaves steal out (CONFIG_PARAVIRT_TIME_ACCOUNTING), so a worker the host stops looks
 * idle to its CPU clock and busy to the wall clock.
 */
import { readFileSync } from "node:fs";

/** Cumulative counts since boot, in USER_HZ ticks (1/100 s on Linux; steal grows in 10 ms steps). */
export interface CpuTimes {
  /** Every CPU's time spent running anything of this guest: user, nice, system, irq, softirq. */
  busy: number;
  /** Time a vCPU wanted to run and the host ran something else. */
  steal: number;
  /** busy + steal + idle + iowait. */
  total: number;
}

/** All CPUs together (the `cpu` line), or undefined where /proc/stat cannot be read. */
export function readCpuTimes(): CpuTimes | undefined {
  let line: string | undefined;
  try {
    line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
  } catch {
    return undefined;
  }
  return parseCpuLine(line);
}

/** Parses one `cpu…` line of /proc/stat (see proc(5)); undefined if it is not one. */
export function parseCpuLine(line: string | undefined): CpuTimes | undefined {
  const fields = line?.trim().split(/\s+/);
  if (fields === undefined || !fields[0]?.startsWith("cpu") || fields.length < 9) return undefined;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.slice(1, 9).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (![user, nice, system, idle, iowait, irq, softirq, steal].every(Number.isFinite)) return undefined;
  const busy = user + nice + system + irq + softirq;
  return { busy, steal, total: busy + steal + idle + iowait };
}

/** The steal counter's advance from `before` to now, in ticks (undefined where it cannot be read). */
export function stealSince(before: CpuTimes | undefined): number | undefined {
  const now = readCpuTimes();
  if (before === undefined || now === undefined) return undefined;
  return now.steal - before.steal;
}

/** The host's share of the CPUs' time from `before` to `after` (steal over total), or undefined. */
export function stealShare(before: CpuTimes | undefined, after: CpuTimes | undefined): number | undefined {
  if (before === undefined || after === undefined || after.total <= before.total) return undefined;
  return (after.steal - before.steal) / (after.total - before.total);
}
