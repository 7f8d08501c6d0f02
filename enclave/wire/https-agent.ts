// Runs in the enclave. An https.Agent whose connections are wire tunnels: the parent relays TCP
// bytes, the TLS handshake and certificate check happen here, inside the enclave. Hand it to
// @aws-sdk's NodeHttpHandler({ httpsAgent }) or to https.request({ agent }).
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Dial } from '../../proto/ports.ts';

/** Options for tunnelAgent: any https.Agent option (ca, keepAlive, maxSockets, ...). */
export type TunnelAgentOptions = https.AgentOptions;

/** An https.Agent that dials through `dial` (e.g. `ports.dial`) and runs TLS over the tunnel. */
export function tunnelAgent(dial: Dial, opts: TunnelAgentOptions = {}): https.Agent {
  const agent = new https.Agent(opts);
  // Agent calls createConnection(options, callback); returning undefined and calling back later
  // is supported, which we need because opening a tunnel is asynchronous.
  (agent as unknown as { createConnection: unknown }).createConnection = (
    options: tls.ConnectionOptions & { host?: string; port?: number | string; servername?: string },
    cb: (err: Error | null, sock?: Duplex) => void,
  ): undefined => {
    const host = options.host ?? 'localhost';
    const port = Number(options.port ?? 443);
    dial(host, port).then(
      (raw) => {
        const servername = options.servername ?? (tlsServerName(host) as string | undefined);
        const sock = tls.connect({ ...options, socket: raw, servername });
        cb(null, sock);
      },
      (err: Error) => cb(err),
    );
    return undefined;
  };
  return agent;
}

function tlsServerName(host: string): string | undefined {
  // SNI carries names only, never IP literals (RFC 6066 §3).
  return /^[0-9.]+$/.test(host) || host.includes(':') ? undefined : host;
}
