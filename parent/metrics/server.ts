// Runs on the parent. /healthz and /metrics over HTTP on loopback only (parseLoopbackAddress refuses
// anything else), GET only, no request body read.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CosignerError } from '../../proto/errors.ts';
import { parseLoopbackAddress } from '../config/config.ts';
import type { Registry } from 'prom-client';

/** What /healthz reports; `ok` decides 200 vs 503. */
export interface Health {
  ok: boolean;
  [k: string]: unknown;
}

/** Start the metrics server; resolves once listening. */
export async function startMetricsServer(
  address: string,
  registry: Registry,
  health: () => Health,
): Promise<{ close(): Promise<void>; port: number; url: string }> {
  const { host, port } = parseLoopbackAddress(address);
  const server: Server = createServer((req, res) => {
    res.setHeader('cache-control', 'no-store');
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
        // A collector failed: say so without detail (the scrape shows as down), never a stack.
        () => res.writeHead(500).end(),
      );
    } else if (path === '/healthz') {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h));
    } else {
      res.writeHead(404).end();
    }
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 5000;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new CosignerError('ERR_CONFIG_INVALID', `metrics address ${address} is unavailable: ${(err as NodeJS.ErrnoException).code ?? err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `http://${host === '::1' ? '[::1]' : host}:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
