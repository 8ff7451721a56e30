/**
 * A raw HTTP/2 client session over a socket the test owns, so it can drop the connection the way a dying
 * process does: no RST_STREAM, no GOAWAY. (session.destroy() first resets open streams with CANCEL, which the
 * server rightly reports as a client cancel.)
 */
import { type ClientHttp2Session, connect } from "node:http2";
import { createConnection, type Socket } from "node:net";

export interface DroppableSession {
  session: ClientHttp2Session;
  /** The client's "address:port", as the server's log names the peer. */
  peer: string;
  /** Drops the TCP connection without a word. */
  drop(): void;
}

export function connectDroppable(address: string): DroppableSession {
  const [host, port] = address.split(":");
  const socket: Socket = createConnection({ host, port: Number(port) });
  const session = connect(`http://${address}`, { createConnection: () => socket });
  session.on("error", () => {});
  return {
    session,
    get peer() {
      return `${socket.localAddress}:${socket.localPort}`;
    },
    drop: () => socket.destroy(),
  };
}
