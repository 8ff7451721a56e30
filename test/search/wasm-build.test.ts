import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { assembleScanWasm, SCAN_WASM_URL } from "../../src/search/wasm/build.ts";

test("the committed scan.wasm is exactly what `npm run build:wasm` builds from scan-wat.ts", async () => {
  const built = await assembleScanWasm();
  const committed = new Uint8Array(readFileSync(SCAN_WASM_URL));
  assert.ok(
    Buffer.from(built).equals(Buffer.from(committed)),
    "src/search/wasm/scan.wasm is stale: run `npm run build:wasm` and commit it",
  );
});
