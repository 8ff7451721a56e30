/** A one-line progress display on stderr, only when stderr is a terminal (nothing extra when piped). */
export interface Progress {
  update(text: string): void;
  /**
   * Writes a line to stdout with the progress line erased first: on a terminal both share the cursor, and a
   * result written after a draw was appended to it ("searching for "x"… 0.5ssecret …") and stayed so. The next
   * tick draws the progress again, below.
   */
  print(line: string): void;
  stop(): void;
}

export function startProgress(label: () => string, enabled = process.stderr.isTTY === true): Progress {
  if (!enabled) return { update() {}, print: (line) => process.stdout.write(line), stop() {} };
  const started = performance.now();
  let extra = "";
  const draw = () => {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(`\r\x1b[2K${label()} ${seconds}s${extra ? ` · ${extra}` : ""}`);
  };
  const timer = setInterval(draw, 100);
  timer.unref();
  return {
    update(text) {
      extra = text;
    },
    print(line) {
      process.stderr.write("\r\x1b[2K");
      process.stdout.write(line);
    },
    stop() {
      clearInterval(timer);
      process.stderr.write("\r\x1b[2K");
    },
  };
}
