/**
 * One TCP port for both HTTP/2 cleartext (gRPC from grpcio, grpc-go, connect-node) and HTTP/1.1 (Connect and
 * gRPC-Web from browsers): Node has no cleartext HTTP/1-or-2 server (nodejs/node#44887), so we read the first
 * bytes of each connection and hand the socket to the server that speaks its protocol.
 */
import type { Server as Http1Server } from "node:http";
import type { Http2Server } from "node:http2";
import type { Socket } from "node:net";

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * How long a new connection may take to send enough bytes to tell its protocol. Until then neither server owns
 * it, so neither server's own timeouts apply; a client that connects and stalls would keep its socket forever.
 */
export const SNIFF_TIMEOUT_MS = 10_000;

/** Routes one new connection to the HTTP/2 or HTTP/1.1 server by its first bytes. */
export function routeConnection(
  socket: Socket,
  h2: Http2Server,
  h1: Http1Server,
  sniffTimeoutMs = SNIFF_TIMEOUT_MS,
): void {
  let received = Buffer.alloc(0);
  const onSniffTimeout = () => socket.destroy();
  socket.setTimeout(sniffTimeoutMs, onSniffTimeout);
  const onData = (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const compared = Math.min(received.length, H2_PREFACE.length);
    const isH2 = received.subarray(0, compared).equals(H2_PREFACE.subarray(0, compared));
    if (isH2 && received.length < H2_PREFACE.length) return; // could still be HTTP/2: wait for more
    socket.off("data", onData);
    socket.off("error", onEarlyError);
    socket.setTimeout(0);
    socket.off("timeout", onSniffTimeout);
    socket.pause();
    socket.unshift(received);
    if (isH2) {
      // No resume() here: Node's http2 core reads the unshifted preface itself; a flowing socket with no
      // 'data' listener would drop it.
      h2.emit("connection", socket);
    } else {
      h1.emit("connection", socket);
      socket.resume(); // the HTTP/1 parser waits for a flowing socket
    }
  };
  // Before either server owns the socket, an error (client reset) must not crash the process.
  const onEarlyError = () => socket.destroy();
  socket.on("data", onData);
  socket.on("error", onEarlyError);
}
