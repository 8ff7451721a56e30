#!/usr/bin/env node
// Entry point of the `cancelkit` command. The project pins Node 24 (the `node` devDependency); when this file is
// started by an older system Node, it re-runs itself on the pinned one instead of failing on TypeScript imports.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const major = Number(process.versions.node.split(".")[0]);
if (major >= 24) {
  await import("../src/cli/main.ts");
} else {
  const pinned = fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url));
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const child = spawn(pinned, [main, ...process.argv.slice(2)], { stdio: "inherit" });
  // Ctrl-C reaches the child through the terminal's process group; this wrapper only waits for its exit code.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => child.kill("SIGTERM"));
  child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
  child.on("error", (error) => {
    process.stderr.write(`cancelkit: cannot start Node 24 at ${pinned}: ${error.message} (run npm ci)\n`);
    process.exit(1);
  });
}
