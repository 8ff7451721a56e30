/** Structured logs: one JSON object a line on stderr (or any writable), so they can be grepped and parsed. */
import type { Writable } from "node:stream";

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export function createLogger(out: Writable = process.stderr): Logger {
  // A reader that goes away (a log shipper restarting, `| head`) makes the next write fail with EPIPE, an
  // "error" event that, unheard, would end the process in the middle of its calls. Serving matters more than
  // logging: the lines are dropped from then on.
  let broken = false;
  out.on("error", () => {
    broken = true;
  });
  const write = (level: string, event: string, fields: LogFields = {}) => {
    if (broken) return;
    out.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
  };
  return {
    info: (event, fields) => write("info", event, fields),
    warn: (event, fields) => write("warn", event, fields),
    error: (event, fields) => write("error", event, fields),
  };
}

/** A logger that drops everything (library use, quiet tests). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
