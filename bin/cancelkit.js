#!/usr/bin/env node
// Entry point of the `cancelkit` command. The project pins Node 24 (the `node` devDependency); when this file is
// started by an older system Node, it re-runs itself on the pinned one instead of failing on TypeScript imports.
// `serve` always runs in a child with the server's V8 flags (`npm start` runs this file): V8's default young
// generation lets one scavenge under a load of cancelled calls pause the event loop for 10–27 ms; 8 MB
// semi-spaces keep each under about 5 ms for the same total. Without Turbofan, V8's helper threads no longer run
// compile jobs of milliseconds, long after start, on the core a search worker needs to see its stop flag: cancels
// slower than 2 ms fell by a third to two fifths, for about a seventh of AddTask's throughput (Maglev still
// optimizes the JavaScript; the search kernel is WebAssembly, unaffected). README, Performance.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const SERVER_V8_FLAGS = ["--max-semi-space-size=8", "--no-turbofan"];
const major = Number(process.versions.node.split(".")[0]);
const serving = process.argv[2] === "serve";
if (major >= 24 && !serving) {
  await import("../src/cli/main.ts");
} else {
  const node =
    major >= 24 ? process.execPath : fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url));
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const flags = serving ? SERVER_V8_FLAGS : [];
  const child = spawn(node, [...flags, main, ...process.argv.slice(2)], { stdio: "inherit" });
  // Ctrl-C reaches the child through the terminal's process group; this wrapper only waits for its exit code.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => child.kill("SIGTERM"));
  child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
  child.on("error", (error) => {
    process.stderr.write(`cancelkit: cannot start Node 24 at ${node}: ${error.message} (run npm ci)\n`);
    process.exit(1);
  });
}
