/** A one-line progress display on stderr, only when stderr is a terminal (nothing extra when piped). */
export interface Progress {
  update(text: string): void;
  stop(): void;
}

export function startProgress(label: () => string, enabled = process.stderr.isTTY === true): Progress {
  if (!enabled) return { update() {}, stop() {} };
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
    stop() {
      clearInterval(timer);
      process.stderr.write("\r\x1b[2K");
    },
  };
}
