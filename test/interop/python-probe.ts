/**
 * Finds a Python that can run the grpcio probe (test/interop/python/hash_client.py) and runs it as a child
 * process. Debian's python3-grpcio installs into /usr/bin/python3's dist-packages, which a pyenv `python3`
 * first on the PATH does not see, so /usr/bin/python3 is tried before `python3`.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

const PROBE = fileURLToPath(new URL("./python/hash_client.py", import.meta.url));

/** Interpreters to try, in order; CANCELKIT_PYTHON overrides them all. */
const CANDIDATES = process.env.CANCELKIT_PYTHON
  ? [process.env.CANCELKIT_PYTHON]
  : ["/usr/bin/python3", "python3"];

export const INSTALL_HINT =
  "apt-get install python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc";

/** Runs `command args` quietly; true when it exits 0 within 20 s. */
function succeeds(command: string, args: string[]): boolean {
  const run = spawnSync(command, args, { stdio: "ignore", timeout: 20_000 });
  return run.status === 0;
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export type PythonLookup = { python: string; skip?: undefined } | { python?: undefined; skip: string };

/** The first interpreter that imports grpc and protobuf and can generate stubs, or why none can. */
export function findGrpcioPython(): PythonLookup {
  const python = CANDIDATES.find((p) => succeeds(p, ["-c", "import grpc, google.protobuf"]));
  if (python === undefined) {
    return { skip: `python3 with grpcio not found (tried ${CANDIDATES.join(", ")}; ${INSTALL_HINT})` };
  }
  const canGenerate =
    (onPath("protoc") && onPath("grpc_python_plugin")) ||
    succeeds(python, ["-c", "import grpc_tools.protoc"]);
  if (!canGenerate) {
    return {
      skip: `protoc or grpc_python_plugin not found and no grpcio-tools in ${python} (${INSTALL_HINT})`,
    };
  }
  return { python };
}

/** The probe's one JSON line; fields depend on the scenario (see hash_client.py). */
export interface ProbeResult {
  scenario: string;
  grpcio: string;
  code: string | null;
  details?: string | null;
  [field: string]: unknown;
}

export interface Probe {
  child: ChildProcess;
  /** The parsed result line; rejects if the probe exits non-zero, prints no JSON, or runs over `timeoutMs`. */
  result: Promise<ProbeResult>;
  /** Stops the probe if it still runs (for `finally`). */
  kill(): void;
}

/** Starts the probe for one scenario against `server` (HOST:PORT). stdin stays open for the cancel scenario. */
export function startProbe(python: string, server: string, scenario: string[], timeoutMs = 60_000): Probe {
  const child = spawn(python, [PROBE, "--server", server, ...scenario], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // The probe may exit before we write to stdin; that must not crash the test process.
  child.stdin?.on("error", () => {});
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const result = new Promise<ProbeResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`probe ${scenario.join(" ")} ran over ${timeoutMs} ms; stderr=${stderr}`));
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !line.startsWith("{")) {
        reject(
          new Error(
            `probe ${scenario.join(" ")} exited ${code ?? signal}; stdout=${stdout} stderr=${stderr}`,
          ),
        );
        return;
      }
      resolve(JSON.parse(line) as ProbeResult);
    });
  });
  // Callers may not await `result` when they fail early; keep that from becoming an unhandled rejection.
  result.catch(() => {});
  return { child, result, kill };
}
