/**
 * Assembles scan-wat.ts into scan.wasm (`npm run build:wasm`). The committed scan.wasm must equal what this
 * produces; test/search/wasm-build.test.ts fails when it is stale.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import wabt from "wabt";
import { generateScanWat } from "./scan-wat.ts";

export const SCAN_WASM_URL = new URL("./scan.wasm", import.meta.url);

/** The module bytes assembled from the generated text (SIMD128 enabled, no debug names: reproducible). */
export async function assembleScanWasm(): Promise<Uint8Array> {
  const toolkit = await wabt();
  const module = toolkit.parseWat("scan.wat", generateScanWat(), { simd: true });
  try {
    module.resolveNames();
    module.validate();
    return module.toBinary({ log: false, write_debug_names: false, canonicalize_lebs: true }).buffer;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bytes = await assembleScanWasm();
  writeFileSync(SCAN_WASM_URL, bytes);
  process.stdout.write(`wrote ${fileURLToPath(SCAN_WASM_URL)} (${bytes.length} bytes)\n`);
}
