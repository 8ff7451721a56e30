/**
 * Builds the grpc-go probe (test/interop/go/*.go) offline from Debian's packaged Go sources and runs it as a
 * child process. The build happens in a temp GOPATH: protoc with protoc-gen-go and protoc-gen-go-grpc writes
 * the stubs there from proto/, the probe's sources are copied beside them, and `go build` runs in GOPATH mode
 * against /usr/share/gocode (golang-google-grpc-dev & co.), with no module proxy. Nothing generated is kept in
 * the repo.
 */
import { execFile } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ProbeProcess, startProbeProcess } from "./probe-process.ts";

const PROBE_SOURCES = fileURLToPath(new URL("./go/", import.meta.url));
const PROTO_ROOT = fileURLToPath(new URL("../../proto/", import.meta.url));

/** Import paths the probe uses for the generated stubs (main.go imports these). */
const STUB_PACKAGES: Record<string, string> = {
  "hash_name/hash_name.proto": "cancelkit.test/gen/hashname",
  "todo/v2/todo.proto": "cancelkit.test/gen/todo",
};

/** Debian's GOPATH of packaged Go sources; CANCELKIT_GOCODE overrides it. */
const GOCODE = process.env.CANCELKIT_GOCODE ?? "/usr/share/gocode";

/** Packages the probe needs from GOCODE (the rest come in as their dependencies). */
const NEEDED_SOURCES = ["google.golang.org/grpc", "google.golang.org/protobuf", "github.com/golang/protobuf"];

export const INSTALL_HINT =
  "apt-get install golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev protoc-gen-go " +
  "protoc-gen-go-grpc protobuf-compiler";

function onPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export interface GoToolchain {
  go: string;
  protoc: string;
  protocGenGo: string;
  protocGenGoGrpc: string;
}

export type GoLookup = { toolchain: GoToolchain; skip?: undefined } | { toolchain?: undefined; skip: string };

/** The tools and packaged sources the probe build needs, or what is missing. */
export function findGoToolchain(): GoLookup {
  const tools = {
    go: process.env.CANCELKIT_GO ?? onPath("go"),
    protoc: onPath("protoc"),
    protocGenGo: onPath("protoc-gen-go"),
    protocGenGoGrpc: onPath("protoc-gen-go-grpc"),
  };
  const missing: string[] = [];
  if (tools.go === undefined) missing.push("go");
  if (tools.protoc === undefined) missing.push("protoc");
  if (tools.protocGenGo === undefined) missing.push("protoc-gen-go");
  if (tools.protocGenGoGrpc === undefined) missing.push("protoc-gen-go-grpc");
  for (const pkg of NEEDED_SOURCES) {
    if (!existsSync(join(GOCODE, "src", pkg))) missing.push(`${GOCODE}/src/${pkg}`);
  }
  const { go, protoc, protocGenGo, protocGenGoGrpc } = tools;
  if (
    missing.length > 0 ||
    go === undefined ||
    protoc === undefined ||
    protocGenGo === undefined ||
    protocGenGoGrpc === undefined
  ) {
    return { skip: `grpc-go toolchain incomplete: missing ${missing.join(", ")} (${INSTALL_HINT})` };
  }
  return { toolchain: { go, protoc, protocGenGo, protocGenGoGrpc } };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // A cold build compiles grpc-go and x/net: minutes on a slow machine, so a wide bound.
    execFile(command, args, { env, cwd, timeout: 600_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stderr}`));
      else resolve();
    });
  });
}

export interface BuiltProbe {
  binary: string;
  /** How long protoc took to write the stubs. */
  generateMs: number;
  /** How long `go build` took (cold: compiles grpc-go; warm: links from Go's build cache). */
  buildMs: number;
  /** Removes the temp GOPATH and the binary. */
  remove(): Promise<void>;
}

/**
 * Generates the stubs and builds the probe in a new temp dir. Go's build cache is the user's (so later runs take
 * about a second); without HOME or XDG_CACHE_HOME it is a fixed dir under the OS temp dir. Rejects with the
 * tool's stderr when generation or the build fails.
 */
export async function buildGoProbe(tools: GoToolchain): Promise<BuiltProbe> {
  const dir = await mkdtemp(join(tmpdir(), "cancelkit-goprobe-"));
  try {
    const gopath = join(dir, "gopath");
    const src = join(gopath, "src");
    await mkdir(join(src, "cancelkit.test", "probe"), { recursive: true });
    const mappings = Object.entries(STUB_PACKAGES).map(([file, pkg]) => `M${file}=${pkg}`);
    const generateStarted = performance.now();
    await run(
      tools.protoc,
      [
        `--plugin=protoc-gen-go=${tools.protocGenGo}`,
        `--plugin=protoc-gen-go-grpc=${tools.protocGenGoGrpc}`,
        `-I${PROTO_ROOT}`,
        `--go_out=${src}`,
        `--go-grpc_out=${src}`,
        ...mappings.map((m) => `--go_opt=${m}`),
        ...mappings.map((m) => `--go-grpc_opt=${m}`),
        ...Object.keys(STUB_PACKAGES),
      ],
      process.env,
      dir,
    );
    const generateMs = performance.now() - generateStarted;
    for (const file of await readdir(PROBE_SOURCES)) {
      if (file.endsWith(".go"))
        await copyFile(join(PROBE_SOURCES, file), join(src, "cancelkit.test", "probe", file));
    }
    const binary = join(dir, "probe");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // GOPATH mode: Debian's packaged sources are a GOPATH, not a module cache. No proxy, no toolchain download,
      // no cgo (golang-go does not bring a C compiler and the probe needs none).
      GO111MODULE: "off",
      GOPATH: `${gopath}${delimiter}${GOCODE}`,
      GOPROXY: "off",
      GOFLAGS: "",
      GOTOOLCHAIN: "local",
      CGO_ENABLED: "0",
    };
    if (!process.env.GOCACHE && !process.env.HOME && !process.env.XDG_CACHE_HOME) {
      env.GOCACHE = join(tmpdir(), "cancelkit-go-build-cache");
    }
    const buildStarted = performance.now();
    await run(tools.go, ["build", "-o", binary, "cancelkit.test/probe"], env, dir);
    const buildMs = performance.now() - buildStarted;
    return { binary, generateMs, buildMs, remove: () => rm(dir, { recursive: true, force: true }) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The probe's one JSON line; fields depend on the scenario (see main.go). Codes are grpc-go's names. */
export interface GoProbeResult {
  scenario: string;
  grpc_go: string;
  go: string;
  code?: string;
  details?: string;
  [field: string]: unknown;
}

/** A running grpc-go probe; `printed` serves the lingering scenarios. */
export type GoProbe = ProbeProcess<GoProbeResult>;

export interface GoProbeOptions {
  /** Bearer token for the TodoService scenarios. */
  token?: string;
  /** Keep the probe and its connections alive after it printed, until `child.stdin` is ended. */
  linger?: boolean;
  timeoutMs?: number;
}

/** Starts the probe for one scenario against `server` (HOST:PORT). stdin stays open for the cancel scenario. */
export function startGoProbe(
  binary: string,
  server: string,
  scenario: string[],
  { token, linger = false, timeoutMs = 60_000 }: GoProbeOptions = {},
): GoProbe {
  const flags = [
    "-server",
    server,
    ...(token === undefined ? [] : ["-token", token]),
    ...(linger ? ["-linger"] : []),
  ];
  return startProbeProcess(`go probe ${scenario.join(" ")}`, binary, [...flags, ...scenario], timeoutMs);
}
