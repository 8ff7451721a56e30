/** Runs the `cancelkit` CLI as a child process on the project's Node, and always stops it. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128 + signal number when killed by a signal). */
  exited: Promise<number>;
  /** Resolves when stderr or stdout has printed something matching `pattern`. */
  printed(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(): void;
}

/** The `cancelkit` command as installed (`npm start` runs it too): it starts `serve` in a child of its own. */
export const BIN = fileURLToPath(new URL("../../bin/cancelkit.js", import.meta.url));

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  return spawnScript(CLI, args, env);
}

/** Runs the CLI to its end: its exit code and everything it printed. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = spawnCli(args, env);
  try {
    const code = await cli.exited;
    return { code, stdout: cli.stdout(), stderr: cli.stderr() };
  } finally {
    cli.kill();
  }
}

/**
 * Runs a Node script of the project as a child process, on the project's Node unless `node` says which.
 * `detached`: in a process group of its own, like a shell's job (its id is the child's pid), which kill() ends
 * whole, so that nothing the script started outlives the test.
 */
export function spawnScript(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  { node = process.execPath, detached = false }: { node?: string; detached?: boolean } = {},
): Spawned {
  const child = spawn(node, [script, ...args], {
    detached,
    // A variable given as undefined is removed from the child's environment (spawn would pass "undefined").
    env: Object.fromEntries(
      Object.entries({ ...process.env, ...env }).filter(([, value]) => value !== undefined),
    ),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const l of listeners) l();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
    for (const l of listeners) l();
  });
  const exited = new Promise<number>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? (signal === "SIGKILL" ? 137 : 128)));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    printed(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(out + err);
          if (!match) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(match[0]);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(
            new Error(`no output matched ${pattern} within ${timeoutMs} ms; stdout=${out} stderr=${err}`),
          );
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    kill() {
      if (detached && child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // The group is gone already.
        }
      } else if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
