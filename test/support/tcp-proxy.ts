import { createServer, Socket, type Server } from "node:net";

/**
 * A loopback TCP proxy that can be told to blackhole: keep every connection
 * open but stop forwarding bytes either way, as a dead network path does
 * (no RST, no FIN). Used to prove calls settle within their timeout.
 */
export interface TcpProxy {
  readonly port: number;
  blackhole(on: boolean): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let holing = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    sockets.add(client);
    sockets.add(upstream);
    upstream.connect(targetPort, "127.0.0.1");
    client.on("data", (chunk) => {
      if (!holing) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!holing) client.write(chunk);
    });
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", closeBoth).on("close", closeBoth);
    upstream.on("error", closeBoth).on("close", closeBoth);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no port");
  return {
    port: address.port,
    blackhole: (on) => {
      holing = on;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
