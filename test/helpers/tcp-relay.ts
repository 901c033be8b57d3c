// A transparent TCP relay on 127.0.0.1 for fault tests: it forwards bytes both
// ways to a target port unchanged, counts them, and notes the HTTP/1.1
// request lines that pass through (what a client asked a server, e.g. S3
// UploadPart or AbortMultipartUpload), so a test can time a fault to the
// bytes of a transfer and see on the wire what the client did about it. When
// the target is gone, a new connection is held open briefly so the client's
// request line is still seen, then closed (as a refused connection would be).
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Test } from 'tap';

const REQUEST_LINE = /(GET|PUT|POST|DELETE|HEAD) (\/\S*) HTTP\/1\.1\r\n/g;

export interface SeenRequest {
  at: number;
  method: string;
  path: string;
  /** Whether the target was reachable for the connection that carried it. */
  forwarded: boolean;
}

export interface TcpRelay {
  port: number;
  /** Bytes client -> target and target -> client so far. */
  readonly upBytes: number;
  readonly downBytes: number;
  readonly requests: SeenRequest[];
  /** Called after every chunk that passed (either way). */
  onProgress(fn: () => void): void;
  close(): Promise<void>;
}

export async function startTcpRelay(t: Test, targetPort: number): Promise<TcpRelay> {
  let up = 0;
  let down = 0;
  const requests: SeenRequest[] = [];
  const listeners: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const progress = () => listeners.forEach((l) => l());

  const server: Server = createServer((client) => {
    sockets.add(client);
    const target = connect(targetPort, '127.0.0.1');
    sockets.add(target);
    let reachable = false;
    let carry = '';
    target.once('connect', () => (reachable = true));
    client.on('data', (d: Buffer) => {
      // Request lines, also one split across two chunks (the carry holds the end of the previous one).
      const text = carry + d.toString('latin1');
      REQUEST_LINE.lastIndex = 0;
      for (let m = REQUEST_LINE.exec(text); m; m = REQUEST_LINE.exec(text)) {
        if (m.index + m[0].length > carry.length) requests.push({ at: Date.now(), method: m[1]!, path: m[2]!, forwarded: reachable || target.connecting });
      }
      carry = text.slice(-2048);
      up += d.length;
      if (!target.destroyed && !target.write(d)) {
        client.pause();
        target.once('drain', () => client.resume());
      }
      progress();
    });
    target.on('data', (d: Buffer) => {
      down += d.length;
      if (!client.destroyed && !client.write(d)) {
        target.pause();
        client.once('drain', () => target.resume());
      }
      progress();
    });
    const gone = () => {
      sockets.delete(target);
      // Give a client whose request was still on its way the time to send its request line.
      setTimeout(() => client.destroy(), reachable ? 0 : 200);
    };
    target.on('error', () => undefined);
    target.on('close', gone);
    client.on('error', () => undefined);
    client.on('close', () => {
      sockets.delete(client);
      target.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const relay: TcpRelay = {
    port,
    get upBytes() {
      return up;
    },
    get downBytes() {
      return down;
    },
    requests,
    onProgress(fn) {
      listeners.push(fn);
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  t.teardown(() => relay.close());
  return relay;
}
