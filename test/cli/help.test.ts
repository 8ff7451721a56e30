/** `cancelkit help COMMAND` and `cancelkit COMMAND --help` print the same text; a topic that is no command is exit 2. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCli as run } from "../helpers/spawn.ts";

test("help COMMAND is COMMAND --help, for every command", async () => {
  // `help serve` printed the overview instead of serve's options.
  for (const command of ["serve", "find", "todo", "users"]) {
    const viaHelp = await run(["help", command]);
    const viaFlag = await run([command, "--help"]);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal(viaHelp.code, 0, viaHelp.stderr);
    assert.match(viaHelp.stdout, new RegExp(`^Usage: cancelkit ${command}`));
    assert.equal(viaHelp.stdout, viaFlag.stdout, command);
  }
});

test("help with a topic that is no command: exit 2 naming it, not the overview with exit 0", async () => {
  const r = await run(["help", "bogus"]);
  assert.equal(r.code, 2, r.stdout);
  assert.equal(r.stderr, 'cancelkit: no help on "bogus" (commands: serve, find, todo, users)\n');
  const overview = await run(["help"]);
  assert.equal(overview.code, 0);
  assert.match(overview.stdout, /^Usage: cancelkit <command>/);
});
