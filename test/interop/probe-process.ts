/**
 * Runs an interop probe (the grpc-go or grpcio client) as a child process that prints one JSON line, and always
 * lets the test stop it. stdin stays open: the cancel scenarios wait for a line on it.
 */
import { type ChildProcess, spawn } from "node:child_process";

export interface ProbeProcess<Result> {
  child: ChildProcess;
  /** The parsed last stdout line once the probe has exited; rejects if it exits non-zero, prints no JSON, or runs over its time. */
  result: Promise<Result>;
  /** The parsed JSON line as soon as it is printed (a lingering probe then waits for stdin to close); rejects as `result` does if the probe dies first. */
  printed: Promise<Result>;
  /** Stops the probe if it still runs (for `finally`). */
  kill(): void;
}

/**
 * Spawns `command args`. `label` names the probe run in error messages (e.g. "go probe find aa 0"). After
 * `timeoutMs` the probe is killed and `result` rejects with its stderr.
 */
export function startProbeProcess<Result>(
  label: string,
  command: string,
  args: string[],
  timeoutMs: number,
): ProbeProcess<Result> {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let announce: ((line: Result) => void) | undefined;
  const printed = new Promise<Result>((resolve) => {
    announce = resolve;
  });
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (announce === undefined) return;
    // Look for the first JSON line until it is found, never after: a probe that prints a line per trial
    // (cancel-loop) would otherwise have its whole output split again on every chunk, on the server's thread.
    const complete = stdout.split("\n").slice(0, -1); // the last piece is not a whole line yet
    const line = complete.find((l) => l.startsWith("{"));
    if (line !== undefined) {
      announce(JSON.parse(line) as Result);
      announce = undefined;
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // The probe may exit before we write to stdin; that must not crash the test process.
  child.stdin?.on("error", () => {});
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const result = new Promise<Result>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`${label} ran over ${timeoutMs} ms; stderr=${stderr}`));
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !line.startsWith("{")) {
        reject(new Error(`${label} exited ${code ?? signal}; stdout=${stdout} stderr=${stderr}`));
        return;
      }
      resolve(JSON.parse(line) as Result);
    });
  });
  // Callers may not await `result` when they fail early; keep that from becoming an unhandled rejection.
  result.catch(() => {});
  // A probe that dies before printing rejects `printed` too, with the same error.
  const printedOrFailed = Promise.race([printed, result]);
  printedOrFailed.catch(() => {}); // same reason: a caller that only awaits `result` leaves this one unread
  return { child, result, printed: printedOrFailed, kill };
}

/** Waits for the probe to exit and returns its result; stops it if the wait fails (e.g. a timeout). */
export async function runToEnd<Result>(probe: ProbeProcess<Result>): Promise<Result> {
  try {
    return await probe.result;
  } finally {
    probe.kill();
  }
}
