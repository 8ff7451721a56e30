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
import { constants } from "node:os";
import { fileURLToPath } from "node:url";

const SERVER_V8_FLAGS = ["--max-semi-space-size=8", "--no-turbofan"];
/**
 * How long a signal to the wrapper and the server's report of one it received itself count as one signal. A
 * terminal's Ctrl-C, `kill -- -PGID`, systemd's control-group kill and PM2's tree kill signal both processes at
 * once; forwarding too would be a second signal, on which the server exits 1 at once instead of draining. A
 * signal to the wrapper alone (`kill -INT PID`, PM2 without tree kill) reaches the server after this wait.
 */
const SAME_SIGNAL_MS = 500;
/** How often a wrapper started by npm checks that npm's shell, its parent, is still there. */
const PARENT_CHECK_MS = 250;

const major = Number(process.versions.node.split(".")[0]);
const serving = process.argv[2] === "serve";
if (major >= 24 && !serving) {
  await import("../src/cli/main.ts");
} else {
  const node =
    major >= 24 ? process.execPath : fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url));
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const flags = serving ? SERVER_V8_FLAGS : [];
  // Every command gets an IPC channel: the child reports each SIGINT/SIGTERM it received itself, and stops when
  // the channel closes because the wrapper died, instead of running on as an orphan: a server keeping its port, a
  // client its unbounded search (src/cli/wrapper-link.ts). The handlers come first: a signal between the spawn
  // and them would end this wrapper by default and leave the child running.
  const forwarding = forwardSignals();
  /** @type {import("node:child_process").ChildProcess | undefined} */
  let child;
  // A client treats a repeated SIGHUP like the first, so a terminal's hang-up may reach it twice.
  if (!serving) process.on("SIGHUP", () => child?.kill("SIGHUP"));
  child = spawn(node, [...flags, main, ...process.argv.slice(2)], {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
  });
  forwarding.attach(child);
  // `npm start` and `npx` run this file under `sh -c`, which does not pass signals on: a SIGTERM to npm alone
  // (a container's `CMD npm start`, a supervisor, `kill <npm's pid>`) ends npm and its shell, and left this
  // wrapper and the server running on the port. Started by npm, losing that parent counts as a SIGTERM. Not
  // otherwise: a server started directly may be meant to outlive its shell (`nohup`, `&`, `disown`).
  if (serving && process.env.npm_command !== undefined) stopWhenOrphaned(child, forwarding.signalled);
  // A child ended by a signal (one that came before it set its handlers) exits as the shell reports it, 128 + the
  // signal's number: SIGTERM early in a client's start was exit 1, "serve could not start".
  child.on("exit", (code, signal) =>
    process.exit(code ?? (signal === null ? 1 : 128 + constants.signals[signal])),
  );
  child.on("error", (error) => {
    process.stderr.write(`cancelkit: cannot start Node 24 at ${node}: ${error.message} (run npm ci)\n`);
    process.exit(1);
  });
}

/**
 * Sends the server SIGTERM once this wrapper's parent is gone (it has been handed to another process), unless a
 * signal has reached the server or is on its way (`signalled`): then npm going away is part of that same stop (a
 * terminal's Ctrl-C or `timeout` signals npm too, and npm exits at once), and another SIGTERM would be a second
 * signal, on which the server stops draining and exits 1.
 * @param {import("node:child_process").ChildProcess} child
 * @param {() => boolean} signalled
 */
function stopWhenOrphaned(child, signalled) {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    if (!signalled()) child.kill("SIGTERM");
  }, PARENT_CHECK_MS);
  timer.unref();
}

/**
 * Passes on each SIGINT/SIGTERM the wrapper gets, unless the child reported one of its own within
 * SAME_SIGNAL_MS: then both were one signal sent to the whole group. Set up before the child is spawned, and
 * given it by `attach`; `signalled` says whether a signal has reached the child (it reported one) or is on its
 * way through this wrapper.
 */
function forwardSignals() {
  /** @type {import("node:child_process").ChildProcess | undefined} */
  let child;
  let signalled = false;
  let reportedAt = Number.NEGATIVE_INFINITY;
  let forwardedAt = Number.NEGATIVE_INFINITY;
  /** @param {NodeJS.Signals} signal */
  const onSignal = (signal) => {
    const at = performance.now();
    signalled = true;
    setTimeout(() => {
      if (reportedAt >= at - SAME_SIGNAL_MS) return;
      forwardedAt = performance.now();
      child?.kill(signal);
    }, SAME_SIGNAL_MS);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    /** @param {import("node:child_process").ChildProcess} spawned */
    attach(spawned) {
      child = spawned;
      child.on("message", (message) => {
        const now = performance.now();
        if (message?.received === undefined) return;
        signalled = true;
        // The report of a signal this wrapper just forwarded is no signal of the child's own.
        if (now - forwardedAt >= SAME_SIGNAL_MS) reportedAt = now;
      });
    },
    signalled: () => signalled,
  };
}
