// Ways to reach a TPM 2.0 with the command protocol (TPM2 command bytes in,
// response bytes out; platforms/plugins/tpm/commands.ts builds the commands):
//  - a character device: /dev/tpmrm0 (the kernel's resource manager: each open
//    file is its own context, transient objects and sessions are flushed on
//    close) or /dev/tpm0 (raw; one user at a time). One write() carries the whole
//    command, one read() returns the whole response (TPM_BUFSIZE 4096);
//  - a TPM simulator socket speaking the TCG simulator ("mssim") protocol, as
//    `swtpm socket --server type=tcp|unixio` and ms-tpm-20-ref do:
//    TPM_SEND_COMMAND (u32 8), locality (u8), u32 length, the command; answer:
//    u32 length, the response, u32 0. TPM_SESSION_END (u32 20) before closing.
//    A software TPM is no root of trust: for development and tests.
import { open } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { PlatformError } from '../errors.ts';
import type { TpmTransport } from '../plugins/tpm/commands.ts';

const TPM_BUFSIZE = 4096;
const TPM_SEND_COMMAND = 8;
const TPM_SESSION_END = 20;

function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout();
        reject(new PlatformError('DEVICE_ERROR', `${what}: no answer within ${ms} ms`));
      }, ms);
    }),
  ]);
}

/** The response length a TPM header announces (bytes 2..6, big-endian). */
function announced(b: Buffer): number {
  return b.length >= 6 ? b.readUInt32BE(2) : -1;
}

export function tpmDeviceTransport(path: string, o: { timeoutMs?: number } = {}): TpmTransport {
  const timeoutMs = o.timeoutMs ?? 60_000;
  return {
    async transmit(cmd) {
      if (cmd.length > TPM_BUFSIZE) throw new PlatformError('INVALID_INPUT', `TPM command of ${cmd.length} bytes exceeds ${TPM_BUFSIZE}`);
      const fh = await open(path, 'r+').catch((cause: NodeJS.ErrnoException) => {
        throw new PlatformError('DEVICE_ERROR', `cannot open the TPM at ${path} (${cause.code})`, { cause });
      });
      const work = (async () => {
        const { bytesWritten } = await fh.write(cmd, 0, cmd.length, null);
        if (bytesWritten !== cmd.length) throw new PlatformError('DEVICE_ERROR', `TPM ${path}: wrote ${bytesWritten} of ${cmd.length} command bytes`);
        const buf = Buffer.alloc(TPM_BUFSIZE);
        let got = 0;
        // One read returns the whole response; keep reading only if a driver split it.
        for (;;) {
          const { bytesRead } = await fh.read(buf, got, buf.length - got, null);
          if (bytesRead === 0) break;
          got += bytesRead;
          const want = announced(buf.subarray(0, got));
          if (want >= 0 && got >= want) break;
          if (got === buf.length) break;
        }
        const resp = Buffer.from(buf.subarray(0, got));
        if (resp.length < 10 || announced(resp) !== resp.length) throw new PlatformError('DEVICE_ERROR', `TPM ${path}: a ${resp.length}-byte response does not match its header`);
        return resp;
      })();
      let timedOut = false;
      try {
        return await withTimeout(work, timeoutMs, `TPM ${path}`, () => (timedOut = true));
      } finally {
        // after a timeout the read may still be pending: close without waiting for it
        if (timedOut) void fh.close().catch(() => undefined);
        else await fh.close().catch(() => undefined);
      }
    },
  };
}

export type TpmSimulatorAddress = { host: string; port: number } | { path: string };

/** "host:port", "tcp:host:port" or "unix:/path". */
export function parseTpmSimulatorAddress(s: string): TpmSimulatorAddress {
  if (s.startsWith('unix:') && s.length > 5) return { path: s.slice(5) };
  const m = /^(?:tcp:)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new PlatformError('INVALID_INPUT', `TPM simulator address "${s}" is not host:port, tcp:host:port or unix:/path`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** One connection per command (the simulator serves one client at a time). */
export function tpmSimulatorTransport(address: string | TpmSimulatorAddress, o: { timeoutMs?: number; locality?: number } = {}): TpmTransport {
  const addr = typeof address === 'string' ? parseTpmSimulatorAddress(address) : address;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const where = 'path' in addr ? `unix:${addr.path}` : `${addr.host}:${addr.port}`;
  return {
    transmit(cmd) {
      return new Promise<Buffer>((resolve, reject) => {
        const sock: Socket = 'path' in addr ? connect({ path: addr.path }) : connect({ host: addr.host, port: addr.port });
        let buf = Buffer.alloc(0);
        let settled = false;
        const finish = (err: Error | undefined, resp?: Buffer) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (err) {
            sock.destroy();
            reject(err);
            return;
          }
          // The simulator serves one client at a time: answer only once this
          // connection is gone, so the next client (ours or another) gets in.
          sock.once('close', () => resolve(resp!));
          sock.end(u32(TPM_SESSION_END));
        };
        const timer = setTimeout(() => finish(new PlatformError('DEVICE_ERROR', `TPM simulator ${where}: no answer within ${timeoutMs} ms`)), timeoutMs);
        sock.on('connect', () => sock.write(Buffer.concat([u32(TPM_SEND_COMMAND), Buffer.from([o.locality ?? 0]), u32(cmd.length), cmd])));
        sock.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length < 4) return;
          const len = buf.readUInt32BE(0);
          if (len < 10 || len > TPM_BUFSIZE) return finish(new PlatformError('DEVICE_ERROR', `TPM simulator ${where}: implausible response length ${len}`));
          if (buf.length < 4 + len + 4) return;
          const ack = buf.readUInt32BE(4 + len);
          if (ack !== 0) return finish(new PlatformError('DEVICE_ERROR', `TPM simulator ${where}: TPM_SEND_COMMAND acknowledged with ${ack}`));
          finish(undefined, Buffer.from(buf.subarray(4, 4 + len)));
        });
        sock.on('error', (cause) => finish(new PlatformError('DEVICE_ERROR', `TPM simulator ${where}: ${cause.message}`, { cause })));
        sock.on('close', () => finish(new PlatformError('DEVICE_ERROR', `TPM simulator ${where} closed the connection before answering`)));
      });
    },
  };
}
