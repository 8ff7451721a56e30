import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BIN, spawnScript } from "../helpers/spawn.ts";

test("`cancelkit serve` (and so `npm start`) runs the server with its V8 flags, and stops it on SIGTERM", {
  timeout: 60_000,
}, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-serve-flags-"));
  const wrapper = spawnScript(BIN, ["serve", "--port", "0", "--data-dir", dataDir, "--workers", "1"]);
  let serverPid: number | undefined;
  try {
    const line = await wrapper.printed(/\{[^\n]*"event":"listening"[^\n]*\}/);
    const listening = JSON.parse(line) as { pid: number; nodeFlags: string };
    const flags = listening.nodeFlags.split(" ");
    serverPid = listening.pid;
    assert.notEqual(serverPid, wrapper.child.pid, "serve runs in a child of the wrapper");
    // 8 MB semi-spaces: short scavenges; no Turbofan: no long compile jobs on V8's helper threads late in the
    // server's life (docs/performance.md).
    assert.ok(flags.includes("--max-semi-space-size=8"), listening.nodeFlags);
    assert.ok(flags.includes("--no-turbofan"), listening.nodeFlags);
    // The wrapper passes SIGTERM on: the server drains and exits 0, and so does the wrapper.
    wrapper.child.kill("SIGTERM");
    assert.equal(await wrapper.exited, 0);
    // The exit code came from the server: its shutdown ran to the end.
    await wrapper.printed(/"event":"shutdown","phase":"done"/);
    serverPid = undefined;
  } finally {
    wrapper.kill();
    // Unless it was seen to exit above, the server itself must not outlive the test.
    if (serverPid !== undefined) {
      try {
        process.kill(serverPid, "SIGKILL");
      } catch {}
    }
    await rm(dataDir, { recursive: true, force: true });
  }
});
