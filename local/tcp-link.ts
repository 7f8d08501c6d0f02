// Local stack and tests only (never in the enclave image). A loopback TCP forwarder that can be cut
// and restored, standing for the network between the co-signer and a remote service: `cut()` drops
// every open connection and refuses new ones, `restore()` lets connections through again. Bounded:
// at most `maxConnections` at once.
import net from 'node:net';

export interface TcpLink {
  /** `127.0.0.1:port` clients connect to. */
  readonly address: string;
  readonly port: number;
  readonly isCut: boolean;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Forward 127.0.0.1:<port> to `target`. */
export async function startTcpLink(target: { host: string; port: number }, opts: { port?: number; maxConnections?: number } = {}): Promise<TcpLink> {
  const sockets = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut || sockets.size >= (opts.maxConnections ?? 256)) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? 0, '127.0.0.1', () => res());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    get isCut() {
      return cut;
    },
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
