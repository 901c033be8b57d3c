// A small local HTTP upstream for proxy tests: echoes method, path and body.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

export interface Upstream {
  port: number;
  server: Server;
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
}

export type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

const echo: Handler = (req, body, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ method: req.method, url: req.url, body: body.toString('utf8') }));
};

export async function startUpstream(t: Test, handler: Handler = echo): Promise<Upstream> {
  const requests: Upstream['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: body.toString('utf8') });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, server, requests };
}
