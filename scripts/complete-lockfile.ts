/**
 * Adds the platform-specific optional packages (biome, buf) that the registry mirror here does not serve to
 * package-lock.json, marked with their os/cpu as the public registry would, so that `npm ci` accepts the lock
 * (it requires every optional dependency to be listed) and skips them on other platforms. Run after any
 * `npm install` that rewrites the lock: `node scripts/complete-lockfile.ts`.
 */
import { readFileSync, writeFileSync } from "node:fs";

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  optionalDependencies?: Record<string, string>;
}

const OS_NAMES = ["android", "darwin", "linux", "win32", "freebsd", "openbsd", "netbsd", "sunos", "aix"];
const CPU_NAMES = [
  "arm64",
  "x64",
  "armv7",
  "arm",
  "ia32",
  "ppc64",
  "s390x",
  "riscv64",
  "loong64",
  "mips64el",
];

/** The os and cpu a platform package is for, read from its name (e.g. @biomejs/cli-linux-x64-musl). */
function platformOf(name: string): { os: string; cpu: string; libc?: string } | undefined {
  const parts = name.split("/").at(-1)?.split("-") ?? [];
  const os = parts.find((p) => OS_NAMES.includes(p));
  const cpu = parts.find((p) => CPU_NAMES.includes(p));
  if (!os || !cpu) return undefined;
  return { os, cpu: cpu === "armv7" ? "arm" : cpu, libc: parts.includes("musl") ? "musl" : undefined };
}

const lock = JSON.parse(readFileSync("package-lock.json", "utf8")) as { packages: Record<string, LockEntry> };
const added: string[] = [];
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [dep, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    const platform = platformOf(dep);
    if (lock.packages[key] || !platform) continue;
    lock.packages[key] = {
      version: range.replace(/^[\^~=]/, ""),
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      os: [platform.os],
      cpu: [platform.cpu],
      ...(platform.libc ? { libc: [platform.libc] } : {}),
    };
    added.push(`${dep} (of ${path})`);
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))),
);
writeFileSync("package-lock.json", `${JSON.stringify(lock, null, 2)}\n`);
console.log(added.length ? `added to the lock: ${added.join(", ")}` : "lock already complete");
