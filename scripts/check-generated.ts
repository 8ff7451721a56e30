/**
 * Fails when src/gen is stale: regenerates the code from proto/ into a temp folder with the project's buf and
 * protoc-gen-es, and compares it file by file with what is committed.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const out = mkdtempSync(join(tmpdir(), "cancelkit-gen-"));
try {
  const template = JSON.stringify({
    version: "v2",
    inputs: [{ directory: "proto" }],
    plugins: [
      { local: "protoc-gen-es", out, opt: ["target=ts", "import_extension=ts", "erasable_syntax=true"] },
    ],
  });
  execFileSync("buf", ["generate", "--template", template], { stdio: "inherit" });
  const fresh = files(out)
    .map((f) => relative(out, f))
    .sort();
  const committed = files("src/gen")
    .map((f) => relative("src/gen", f))
    .sort();
  const stale = [
    ...fresh.filter(
      (f) => !committed.includes(f) || !readFileSync(join(out, f)).equals(readFileSync(join("src/gen", f))),
    ),
    ...committed.filter((f) => !fresh.includes(f)),
  ];
  if (stale.length > 0) {
    console.error(`src/gen is stale (run npm run generate): ${stale.join(", ")}`);
    process.exit(1);
  }
  console.log(`src/gen is up to date (${fresh.length} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
