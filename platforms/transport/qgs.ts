// TDX quote generation service (QGS, Intel DCAP QuoteGeneration/quote_wrapper):
// a TDREPORT goes in, a DCAP quote comes out. What is implemented:
//
//   framing   u32 big-endian length, then the message (both directions), as
//             qgs_server and libtdx_attest do;
//   request   qgs_msg_get_quote_req_t: header {u16 major_version = 1,
//             u16 minor_version = 1, u32 type = 0 (GET_QUOTE_REQ), u32 size (the
//             whole message), u32 error_code = 0}, u32 report_size = 1024,
//             u32 id_list_size = 0, the TDREPORT (all little-endian, packed);
//   response  qgs_msg_get_quote_resp_t: header (type 1 = GET_QUOTE_RESP, size =
//             the whole message, error_code), u32 selected_id_size, u32
//             quote_size, the selected id, the quote. Only the major version is
//             checked (as Intel's library does); error_code != 0 is a failure.
//
// Endpoints: "vsock:<cid>:<port>" (from inside a TD: the host's QGS, CID 2, port
// 4050 by default in qgs.conf; through the native helper, as Node has no AF_VSOCK)
// or "unix:<path>" (QGS's own Unix socket /var/run/tdx-qgs/qgs.socket, reachable
// when it is mounted into the container; node:net). The legacy raw mode (a bare
// 1024-byte TDREPORT) and GET_COLLATERAL / GET_PLATFORM_INFO are not used.
import { connect } from 'node:net';
import { PlatformError } from '../errors.ts';
import { hexField, runTeeHelper, type RunTeeHelperOptions } from './tee-helper.ts';

export const QGS_MSG = { majorVersion: 1, minorVersion: 1, GET_QUOTE_REQ: 0, GET_QUOTE_RESP: 1, headerSize: 16 } as const;
export const QGS_DEFAULT_VSOCK_PORT = 4050;
export const QGS_DEFAULT_UNIX_SOCKET = 'var/run/tdx-qgs/qgs.socket';
const MAX_MSG = 1 << 20;

export type QgsEndpoint = { kind: 'vsock'; cid: number; port: number } | { kind: 'unix'; path: string };

export function parseQgsEndpoint(s: string): QgsEndpoint {
  const v = /^vsock:(\d{1,10}):(\d{1,10})$/.exec(s);
  if (v) {
    const cid = Number(v[1]);
    const port = Number(v[2]);
    if (cid > 0xffffffff || port < 1 || port > 0xffffffff) throw new PlatformError('INVALID_INPUT', `QGS endpoint ${s}: cid/port out of range`);
    return { kind: 'vsock', cid, port };
  }
  if (s.startsWith('unix:') && s.length > 5) return { kind: 'unix', path: s.slice(5) };
  throw new PlatformError('INVALID_INPUT', `QGS endpoint "${s}" is neither vsock:<cid>:<port> nor unix:<path>`);
}

export function encodeQgsGetQuoteRequest(tdreport: Buffer): Buffer {
  const size = QGS_MSG.headerSize + 8 + tdreport.length;
  const m = Buffer.alloc(size);
  m.writeUInt16LE(QGS_MSG.majorVersion, 0);
  m.writeUInt16LE(QGS_MSG.minorVersion, 2);
  m.writeUInt32LE(QGS_MSG.GET_QUOTE_REQ, 4);
  m.writeUInt32LE(size, 8);
  m.writeUInt32LE(0, 12);
  m.writeUInt32LE(tdreport.length, 16);
  m.writeUInt32LE(0, 20);
  tdreport.copy(m, 24);
  return m;
}

export function decodeQgsGetQuoteResponse(m: Buffer): { quote: Buffer; selectedId: Buffer } {
  const bad = (why: string) => new PlatformError('DEVICE_ERROR', `QGS answer: ${why}`);
  if (m.length < QGS_MSG.headerSize + 8) throw bad(`${m.length} bytes is shorter than a GET_QUOTE_RESP`);
  const major = m.readUInt16LE(0);
  const type = m.readUInt32LE(4);
  const size = m.readUInt32LE(8);
  const error = m.readUInt32LE(12);
  if (major !== QGS_MSG.majorVersion) throw bad(`message major version ${major}, expected ${QGS_MSG.majorVersion}`);
  if (type !== QGS_MSG.GET_QUOTE_RESP) throw bad(`message type ${type}, expected GET_QUOTE_RESP (1)`);
  if (size !== m.length) throw bad(`header size ${size} differs from the ${m.length} bytes received`);
  const idSize = m.readUInt32LE(16);
  const quoteSize = m.readUInt32LE(20);
  if (QGS_MSG.headerSize + 8 + idSize + quoteSize !== size) throw bad('selected_id_size + quote_size do not add up to the message size');
  if (error !== 0) throw bad(`QGS error_code 0x${error.toString(16)}`);
  if (quoteSize === 0) throw bad('success with an empty quote');
  return { selectedId: m.subarray(24, 24 + idSize), quote: m.subarray(24 + idSize) };
}

function unixExchange(path: string, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    let want = -1;
    const sock = connect({ path });
    const done = (err?: Error, body?: Buffer) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(body!);
    };
    const timer = setTimeout(() => done(new PlatformError('DEVICE_ERROR', `QGS at unix:${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(msg.length);
      sock.write(Buffer.concat([len, msg]));
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      const all = Buffer.concat(chunks);
      if (want < 0 && all.length >= 4) {
        want = all.readUInt32BE(0);
        if (want === 0 || want > MAX_MSG) return done(new PlatformError('DEVICE_ERROR', `QGS at unix:${path}: implausible answer length ${want}`));
      }
      if (want >= 0 && got >= 4 + want) done(undefined, all.subarray(4, 4 + want));
    });
    sock.on('error', (cause) => done(new PlatformError('DEVICE_ERROR', `QGS at unix:${path}: ${cause.message}`, { cause })));
    sock.on('end', () => done(new PlatformError('DEVICE_ERROR', `QGS at unix:${path} closed the connection before a full answer`)));
  });
}

export interface QgsOptions extends RunTeeHelperOptions {
  timeoutMs?: number;
}

/** One GET_QUOTE exchange with the QGS: the TDREPORT in, the quote out. */
export async function qgsGetQuote(endpoint: QgsEndpoint, tdreport: Buffer, o: QgsOptions = {}): Promise<Buffer> {
  const msg = encodeQgsGetQuoteRequest(tdreport);
  const timeoutMs = o.timeoutMs ?? 30_000;
  let body: Buffer;
  if (endpoint.kind === 'unix') body = await unixExchange(endpoint.path, msg, timeoutMs);
  else {
    const answer = await runTeeHelper('vsock-xfer', ['--cid', String(endpoint.cid), '--port', String(endpoint.port), '--timeout-ms', String(timeoutMs)], msg.toString('hex'), { ...o, timeoutMs: timeoutMs + 5000 });
    body = hexField(answer, 'body');
  }
  return Buffer.from(decodeQgsGetQuoteResponse(body).quote);
}
