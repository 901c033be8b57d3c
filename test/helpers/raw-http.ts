// HTTP clients that control the framing byte for byte, for hostile-input tests:
// HTTP/1.1 with a content-length or chunked over a raw socket (the body is
// written as fast as the socket takes it and stops at the first response byte,
// as a real uploader that reads its answer does), and HTTP/2 (h2c) without a
// content-length. Each resolves with the status, headers, body and the time to
// the response head.
import { connect as netConnect } from 'node:net';
import { connect as h2connect, constants as H2 } from 'node:http2';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** ms from the first byte sent to the response's status line. */
  headAfterMs: number;
  /** Request body bytes written before the answer arrived (or the socket closed). */
  bytesSent: number;
}

export type Framing = 'content-length' | 'chunked' | 'http2';

export interface RawRequest {
  port: number;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body: Buffer;
  framing: Framing;
  /** Bytes per write (chunk size for chunked). */
  chunkBytes?: number;
  /** Pause between writes (slow drip). */
  delayMs?: number;
  timeoutMs?: number;
}

export function send(r: RawRequest): Promise<RawResponse> {
  return r.framing === 'http2' ? sendH2(r) : sendH1(r);
}

function sendH1(r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(r.port, '127.0.0.1');
    const chunk = r.chunkBytes ?? 64 * 1024;
    let answered = false;
    let raw = Buffer.alloc(0);
    let sent = 0;
    let t0 = 0;
    let headAt = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete answer within ${r.timeoutMs ?? 10_000} ms (got ${raw.length} bytes: ${raw.toString('latin1').slice(0, 120)})`));
    }, r.timeoutMs ?? 10_000);
    const finish = () => {
      const text = raw.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      if (headEnd < 0) return false;
      const lines = text.slice(0, headEnd).split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      if (status === 100) {
        raw = raw.subarray(Buffer.byteLength(text.slice(0, headEnd + 4), 'latin1'));
        return finish();
      }
      let body = raw.subarray(Buffer.byteLength(text.slice(0, headEnd + 4), 'latin1'));
      if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        if (body.length < n) return false;
        body = body.subarray(0, n);
      } else if (headers['transfer-encoding'] === 'chunked') {
        const parts: Buffer[] = [];
        let off = 0;
        for (;;) {
          const nl = body.indexOf('\r\n', off);
          if (nl < 0) return false;
          const size = parseInt(body.subarray(off, nl).toString('latin1'), 16);
          if (size === 0) break;
          if (body.length < nl + 2 + size + 2) return false;
          parts.push(body.subarray(nl + 2, nl + 2 + size));
          off = nl + 2 + size + 2;
        }
        body = Buffer.concat(parts);
      }
      answered = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ status, headers, body: body.toString('utf8'), headAfterMs: headAt - t0, bytesSent: sent });
      return true;
    };
    sock.on('data', (d: Buffer) => {
      if (!headAt) headAt = Date.now();
      raw = Buffer.concat([raw, d]);
      finish();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (answered) return;
      clearTimeout(timer);
      if (!finish()) reject(new Error(`connection closed without a complete answer after ${sent} body bytes (got: ${raw.toString('latin1').slice(0, 120)})`));
    });
    sock.on('connect', async () => {
      t0 = Date.now();
      const head = [`${r.method ?? 'POST'} ${r.path ?? '/'} HTTP/1.1`, 'host: 127.0.0.1', ...Object.entries(r.headers ?? {}).map(([k, v]) => `${k}: ${v}`)];
      head.push(r.framing === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${r.body.length}`);
      sock.write(`${head.join('\r\n')}\r\n\r\n`);
      for (let off = 0; off < r.body.length && !headAt && !sock.destroyed; off += chunk) {
        const piece = r.body.subarray(off, off + chunk);
        const framed = r.framing === 'chunked' ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
        const ok = sock.write(framed);
        sent += piece.length;
        if (!ok) await new Promise((res) => { sock.once('drain', res); sock.once('close', res); setTimeout(res, 200); });
        if (r.delayMs) await new Promise((res) => setTimeout(res, r.delayMs));
      }
      if (r.framing === 'chunked' && !headAt && !sock.destroyed) sock.write('0\r\n\r\n');
    });
  });
}

function sendH2(r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${r.port}`);
    session.on('error', () => undefined);
    const t0 = Date.now();
    let sent = 0;
    let headAt = 0;
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no complete HTTP/2 answer within ${r.timeoutMs ?? 10_000} ms`));
    }, r.timeoutMs ?? 10_000);
    const stream = session.request({ [H2.HTTP2_HEADER_METHOD]: r.method ?? 'POST', [H2.HTTP2_HEADER_PATH]: r.path ?? '/', ...(r.headers ?? {}) });
    let status = 0;
    let headers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      headAt = Date.now();
      status = Number(h[':status']);
      headers = Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith(':')).map(([k, v]) => [k, String(v)]));
    });
    stream.on('data', (d: Buffer) => chunks.push(d));
    const done = () => {
      clearTimeout(timer);
      session.destroy();
      if (!status) reject(new Error(`HTTP/2 stream ended without a response after ${sent} body bytes`));
      else resolve({ status, headers, body: Buffer.concat(chunks).toString('utf8'), headAfterMs: headAt - t0, bytesSent: sent });
    };
    stream.on('end', done);
    stream.on('close', () => (status ? undefined : done()));
    stream.on('error', () => undefined);
    (async () => {
      const chunk = r.chunkBytes ?? 64 * 1024;
      for (let off = 0; off < r.body.length && !headAt && !stream.destroyed; off += chunk) {
        const piece = r.body.subarray(off, off + chunk);
        const ok = stream.write(piece);
        sent += piece.length;
        if (!ok) await new Promise((res) => { stream.once('drain', res); stream.once('close', res); setTimeout(res, 200); });
        if (r.delayMs) await new Promise((res) => setTimeout(res, r.delayMs));
      }
      if (!headAt && !stream.destroyed) stream.end();
    })().catch(() => undefined);
  });
}
