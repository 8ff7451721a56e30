/**
 * Finds a Python that can run the grpcio probe (test/interop/python/hash_client.py) and runs it as a child
 * process. Debian's python3-grpcio installs into /usr/bin/python3's dist-packages, which a pyenv `python3`
 * first on the PATH does not see, so /usr/bin/python3 is tried before `python3`.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ProbeProcess, startProbeProcess } from "./probe-process.ts";

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

/** A running grpcio probe. */
export type Probe = ProbeProcess<ProbeResult>;

/** Starts the probe for one scenario against `server` (HOST:PORT). stdin stays open for the cancel scenario. */
export function startProbe(python: string, server: string, scenario: string[], timeoutMs = 60_000): Probe {
  return startProbeProcess(
    `python probe ${scenario.join(" ")}`,
    python,
    [PROBE, "--server", server, ...scenario],
    timeoutMs,
  );
}
