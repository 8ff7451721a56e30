/** A Logger that keeps entries in memory and lets a test wait for the one it expects (no sleeping). */
import type { LogFields, Logger } from "../../src/server/log.ts";

export interface LogEntry extends LogFields {
  level: string;
  event: string;
}

export interface MemoryLogger extends Logger {
  readonly entries: LogEntry[];
  /** Resolves with the first entry (past or future) matching `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate: (entry: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>;
  /** Resolves with the first entry written after this call that matches `predicate`; rejects after `timeoutMs`. */
  waitForNext(predicate: (entry: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>;
}

export function createMemoryLogger(): MemoryLogger {
  const entries: LogEntry[] = [];
  const waiters = new Set<(entry: LogEntry) => void>();
  const write = (level: string, event: string, fields: LogFields = {}) => {
    const entry: LogEntry = { ...fields, level, event };
    entries.push(entry);
    for (const waiter of waiters) waiter(entry);
  };
  const waitForNext = (predicate: (entry: LogEntry) => boolean, timeoutMs = 10_000): Promise<LogEntry> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no log entry matched within ${timeoutMs} ms; got ${JSON.stringify(entries)}`));
      }, timeoutMs);
      const check = (entry: LogEntry) => {
        if (!predicate(entry)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(entry);
      };
      waiters.add(check);
    });
  return {
    entries,
    info: (event, fields) => write("info", event, fields),
    warn: (event, fields) => write("warn", event, fields),
    error: (event, fields) => write("error", event, fields),
    waitFor(predicate, timeoutMs = 10_000) {
      const seen = entries.find(predicate);
      if (seen) return Promise.resolve(seen);
      return waitForNext(predicate, timeoutMs);
    },
    waitForNext,
  };
}
