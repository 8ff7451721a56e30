/**
 * A TCP proxy on 127.0.0.1 that holds every chunk, in each direction, for `delayMs` before passing it on (in
 * order): a slow network, so that a test can act while a message is on its way. `{ toServerMs, toClientMs }`
 * delays each direction by its own amount (e.g. requests at once, answers late).
 */
import { connect, createServer, type Socket } from "node:net";

export interface DelayProxy {
  readonly address: string;
  close(): Promise<void>;
}

export async function startDelayProxy(
  target: string,
  delayMs: number | { toServerMs: number; toClientMs: number },
): Promise<DelayProxy> {
  const { toServerMs, toClientMs } =
    typeof delayMs === "number" ? { toServerMs: delayMs, toClientMs: delayMs } : delayMs;
  const [host, port] = target.split(":") as [string, string];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const pipeDelayed = (from: Socket, to: Socket, delayMs: number) => {
    from.on("data", (chunk: Buffer) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!to.destroyed) to.write(chunk);
      }, delayMs);
      timers.add(timer);
    });
    from.on("end", () => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        to.end();
      }, delayMs);
      timers.add(timer);
    });
    from.on("close", () => to.destroy());
    from.on("error", () => to.destroy());
  };
  const server = createServer((client) => {
    const upstream = connect({ host, port: Number(port), noDelay: true });
    client.setNoDelay(true);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    }
    pipeDelayed(client, upstream, toServerMs);
    pipeDelayed(upstream, client, toClientMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: proxyPort } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${proxyPort}`,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
