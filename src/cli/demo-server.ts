/**
 * The server `cancelkit todo demo` starts for itself when no --server is given: on 127.0.0.1:0, with a temporary
 * data dir, and a log the demo can read back, so that it can show what the server did with a cancelled call.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../server/create-server.ts";
import type { LogFields, Logger } from "../server/log.ts";
import { defaultServerOptions } from "../server/options.ts";
import { readTokenFile, tokenPath } from "../store/bootstrap.ts";

export interface DemoServer {
  address: string;
  token: string;
  /** Resolves with the next `call` log line of `method` written after this call. */
  nextCall(method: string): Promise<LogFields>;
  close(): Promise<void>;
}

export async function startDemoServer(): Promise<DemoServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "cancelkit-demo-"));
  const waiters: Array<{ method: string; resolve(fields: LogFields): void }> = [];
  const onEntry = (event: string, fields: LogFields = {}) => {
    if (event !== "call") return;
    const index = waiters.findIndex((w) => w.method === fields.method);
    if (index >= 0) waiters.splice(index, 1)[0]?.resolve(fields);
  };
  const log: Logger = { info: onEntry, warn: onEntry, error: onEntry };
  const server = await startServer({ ...defaultServerOptions(), port: 0, workers: 1, dataDir }, log);
  return {
    address: `127.0.0.1:${server.port}`,
    token: await readTokenFile(tokenPath(dataDir)),
    nextCall: (method) => new Promise((resolve) => waiters.push({ method, resolve })),
    async close() {
      await server.shutdown(0);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
