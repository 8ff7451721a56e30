/**
 * Probe (not part of `npm run bench`): which JavaScript shapes keep short-lived objects alive through V8's
 * scavenges, so that they are copied and promoted to the old generation instead of dying young. Each pattern makes
 * a 500-object graph 5,000 times (~190 MB in all) and drops it at once; the probe runs each in its own process
 * with the server's semi-space size and V8's GC trace, and prints how much the scavenges promoted.
 *
 *   node bench/probes/scavenge-retention.ts
 *
 * On Node 24.21.0 two shapes promote most of what they make (docs/performance.md: "Scavenges on the event loop"):
 * a generator object made from a generator function that closes over the graph, and a function literal written
 * straight into a property (`o.f = () => graph`); the same closure stored through a local does not.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { median } from "../stats.ts";

const ITERATIONS = 5_000;

function graph(): { k: number; s: null; t: number }[] {
  const objects = [];
  for (let k = 0; k < 500; k++) objects.push({ k, s: null, t: k * 2 });
  return objects;
}

function* countOf(objects: unknown[]): Generator<number> {
  yield objects.length;
}

async function* countOfAsync(objects: unknown[]): AsyncGenerator<number> {
  yield objects.length;
}

/** Each pattern makes one graph and lets it become garbage when it returns. */
const patterns: Record<string, () => unknown> = {
  "no closure": () => graph().length,
  "closure stored through a local (const f = () => graph; o.f = f)": () => {
    const objects = graph();
    const holder: { f?: () => unknown } = {};
    const f = () => objects;
    holder.f = f;
    return holder;
  },
  "closure in an object literal ({ f: () => graph })": () => {
    const objects = graph();
    return { f: () => objects };
  },
  "closure written straight into a property (o.f = () => graph)": () => {
    const objects = graph();
    const holder: { f?: () => unknown } = {};
    holder.f = () => objects;
    return holder;
  },
  "generator given the graph as an argument (g(graph))": () => countOf(graph()).next(),
  "generator closing over the graph, only created": () => {
    const objects = graph();
    function* count(): Generator<number> {
      yield objects.length;
    }
    return count();
  },
  "async generator given the graph as an argument, only created": () => countOfAsync(graph()),
  "async generator closing over the graph, only created": () => {
    const objects = graph();
    async function* count(): AsyncGenerator<number> {
      yield objects.length;
    }
    return count();
  },
  "async function closing over the graph, called": () => {
    const objects = graph();
    const count = async () => objects.length;
    return count();
  },
};

interface Trace {
  scavenges: number;
  promotedMB: number;
  medianPauseMs: number;
}

/** Sums the scavenge lines of V8's --trace-gc-nvp output. */
function scavengeTrace(output: string): Trace {
  const pauses: number[] = [];
  let promoted = 0;
  for (const line of output.split("\n")) {
    if (!line.includes(" gc=s ")) continue;
    pauses.push(Number(/ pause=([\d.]+)/.exec(line)?.[1] ?? 0));
    promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return {
    scavenges: pauses.length,
    promotedMB: promoted / 1e6,
    medianPauseMs: pauses.length > 0 ? median(pauses) : 0,
  };
}

const chosen = process.argv[2];
if (chosen !== undefined) {
  const make = patterns[chosen];
  if (make === undefined) throw new Error(`unknown pattern: ${chosen}`);
  for (let i = 0; i < ITERATIONS; i++) make();
} else {
  const self = fileURLToPath(import.meta.url);
  // Each pattern allocates about the same, ~190 MB by the scavenges' own count where nothing survives.
  console.log(
    `${ITERATIONS} graphs of 500 objects per pattern, --max-semi-space-size=8, Node ${process.version}`,
  );
  for (const name of Object.keys(patterns)) {
    const run = spawnSync(process.execPath, ["--max-semi-space-size=8", "--trace-gc-nvp", self, name], {
      encoding: "utf8",
    });
    if (run.status !== 0) throw new Error(`${name}: exited ${run.status}: ${run.stderr}`);
    const trace = scavengeTrace(run.stdout);
    console.log(
      `${name}: promoted ${trace.promotedMB.toFixed(1)} MB in ${trace.scavenges} scavenges, ` +
        `median pause ${trace.medianPauseMs.toFixed(2)} ms`,
    );
  }
}
