/** What every `cancelkit todo` command works with: the client, the options of its calls, Ctrl-C's signal. */
import type { Client } from "@connectrpc/connect";
import type { TodoService } from "../gen/todo/v2/todo_pb.ts";
import type { DemoServer } from "./demo-server.ts";

export interface TodoSession {
  client: Client<typeof TodoService>;
  /** Options for every call: Ctrl-C's signal, the deadline, the token. */
  call(signal?: AbortSignal): {
    signal: AbortSignal;
    timeoutMs: number | undefined;
    headers: Record<string, string>;
  };
  signal: AbortSignal;
  json: boolean;
  /** The server's address, as HOST:PORT. */
  server: string;
  /** The demo's own server, when it started one: its call log can be read back. */
  demoServer?: DemoServer;
}
