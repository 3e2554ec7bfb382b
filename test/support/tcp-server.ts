import { createServer, type Socket } from "node:net";

/** A loopback TCP server standing in for Redis or Postgres that misbehave. */
export interface CountingTcpServer {
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * Hands each connection to `onConnection` (drop it to refuse service,
 * ignore it to never answer) and counts them.
 */
export async function tcpServer(onConnection: (socket: Socket) => void): Promise<CountingTcpServer> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => count,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
