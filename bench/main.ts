/**
 * `npm run bench [-- --quick] [-- --json]`: every benchmark of the project in one run, each figure beside the
 * baseline measured in the same run, with the issue's target and PASS/MISS where there is one.
 * The todo benchmarks join in when bench/todo.bench.ts exists.
 * Exits non-zero when a benchmark fails (e.g. a wrong answer); a MISS is reported, not an error.
 */
import { existsSync } from "node:fs";
import { arch, availableParallelism, cpus, loadavg, platform } from "node:os";
import type { BenchRow, BenchTarget } from "./rows.ts";
import { benchSearch } from "./search.bench.ts";

type Bench = (opts: { quick: boolean }) => Promise<BenchRow[]>;

const quick = process.argv.includes("--quick");
const json = process.argv.includes("--json");

/** benchTodo from bench/todo.bench.ts, if that file exists (it is written separately). */
async function todoBench(): Promise<Bench | undefined> {
  const url = new URL("./todo.bench.ts", import.meta.url);
  if (!existsSync(url)) return undefined;
  const module = (await import(url.href)) as { benchTodo?: unknown };
  if (typeof module.benchTodo !== "function")
    throw new Error("bench/todo.bench.ts does not export benchTodo");
  return module.benchTodo as Bench;
}

function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? "unknown",
    cores: cpu.length,
    availableParallelism: availableParallelism(),
    node: process.version,
    platform: `${platform()} ${arch()}`,
    date: new Date().toISOString(),
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
    // The servers run in this process: `npm run bench` gives it the server's V8 flags.
    nodeFlags: process.execArgv,
  };
}

function formatValue(value: number, unit: string): string {
  if (unit.endsWith("/s") && value >= 1e5) return `${(value / 1e6).toFixed(2)} M ${unit}`;
  if (unit === "ms") return `${value < 10 ? value.toFixed(3) : value.toFixed(1)} ms`;
  if (Number.isInteger(value)) return `${value} ${unit}`;
  return `${value.toPrecision(4)} ${unit}`;
}

const OP_TEXT: Record<BenchTarget["op"], string> = { ">=": "≥", "<=": "≤", "<": "<" };

function meets(actual: number, target: BenchTarget): boolean {
  if (target.op === ">=") return actual >= target.limit;
  if (target.op === "<=") return actual <= target.limit;
  return actual < target.limit;
}

function targetText(row: BenchRow, target: BenchTarget): string {
  const limit = target.of === "ratio" ? `×${target.limit}` : formatValue(target.limit, row.unit);
  return `${OP_TEXT[target.op]} ${limit}`;
}

/** PASS / MISS of a row's targets, or undefined without targets. */
function verdict(row: BenchRow): boolean | undefined {
  if (row.targets === undefined || row.targets.length === 0) return undefined;
  return row.targets.every((target) => {
    const actual = target.of === "ratio" ? row.ratio : row.value;
    return actual !== undefined && meets(actual, target);
  });
}

function printRow(row: BenchRow): void {
  const parts = [`${row.name}: ${formatValue(row.value, row.unit)}`];
  if (row.baseline !== undefined) {
    const what = row.baselineName === undefined ? "baseline" : `baseline (${row.baselineName})`;
    const ratio = row.ratio === undefined ? "" : `, ×${row.ratio.toFixed(2)}`;
    parts.push(`${what} ${formatValue(row.baseline, row.unit)}${ratio}`);
  }
  const ok = verdict(row);
  if (ok !== undefined) {
    const targets = (row.targets ?? []).map((target) => targetText(row, target)).join(" and ");
    parts.push(`target ${targets}: ${ok ? "PASS" : "MISS"}`);
  }
  process.stdout.write(`${parts.join("  |  ")}\n`);
  if (row.note !== undefined) process.stdout.write(`    ${row.note}\n`);
}

const began = performance.now();
const host = machine();
if (!json) {
  process.stdout.write(
    `cancelkit bench${quick ? " --quick" : ""}: ${host.cpu}, ${host.cores} cores (availableParallelism ${host.availableParallelism}), ` +
      `Node ${host.node}, ${host.platform}, ${host.date}, load average ${host.loadAverage.join(" ")}\n` +
      "ratio = value / same-run baseline\n",
  );
}

const benches: Array<[string, Bench]> = [["search", benchSearch]];
const todo = await todoBench();
if (todo !== undefined) benches.push(["todo", todo]);

const results: Array<BenchRow & { bench: string; pass?: boolean }> = [];
for (const [bench, run] of benches) {
  if (!json) process.stdout.write(`\n# ${bench}\n`);
  for (const row of await run({ quick })) {
    const pass = verdict(row);
    results.push({ bench, ...row, ...(pass === undefined ? {} : { pass }) });
    if (!json) printRow(row);
  }
}

const seconds = (performance.now() - began) / 1000;
const missed = results.filter((row) => row.pass === false).length;
const judged = results.filter((row) => row.pass !== undefined).length;
if (json) {
  process.stdout.write(`${JSON.stringify({ machine: host, quick, seconds, rows: results }, null, 2)}\n`);
} else {
  process.stdout.write(
    `\n${judged - missed}/${judged} targets met${missed > 0 ? `, ${missed} MISS` : ""}; ${seconds.toFixed(1)} s\n`,
  );
}
