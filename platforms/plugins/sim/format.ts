// The sim quote: a real signed structure with no hardware behind it.
//
//   0   magic "AENV-SIM" (8)
//   8   version u16 LE = 1
//   10  flags u16 LE (bit 0 = debug)
//   12  issued_at u64 LE (ms since epoch)
//   20  key_id (32) = SHA-256(SPKI DER of the signing key)
//   52  report_data (64)
//   116 count u16 LE, then per measurement: name_len u8, name (ASCII [a-z0-9_]),
//       value_len u16 LE, value bytes
//   end signature (64) = ECDSA P-256 / SHA-256, r||s, over [0, end), right after
//       the measurement list; bytes after it are unsigned and only reported
//       (docs/platforms.md, "Trailing bytes")
import { PlatformError } from '../../errors.ts';

export const SIM_MAGIC = Buffer.from('AENV-SIM', 'ascii');
export const SIM_VERSION = 1;
const HEADER = 116;
const SIG = 64;
const NAME = /^[a-z0-9_]{1,64}$/;

export interface SimQuoteBody {
  debug: boolean;
  issuedAt: number;
  keyId: Buffer;
  reportData: Buffer;
  measurements: Record<string, Buffer>;
}

export interface ParsedSimQuote extends SimQuoteBody {
  signed: Buffer;
  signature: Buffer;
  /** Bytes after the signature. */
  trailing: Buffer;
}

export function encodeSimBody(b: SimQuoteBody): Buffer {
  const head = Buffer.alloc(HEADER + 2);
  SIM_MAGIC.copy(head, 0);
  head.writeUInt16LE(SIM_VERSION, 8);
  head.writeUInt16LE(b.debug ? 1 : 0, 10);
  head.writeBigUInt64LE(BigInt(b.issuedAt), 12);
  b.keyId.copy(head, 20);
  b.reportData.copy(head, 52);
  const names = Object.keys(b.measurements).sort();
  head.writeUInt16LE(names.length, HEADER);
  const parts: Buffer[] = [head];
  for (const n of names) {
    if (!NAME.test(n)) throw new PlatformError('INVALID_INPUT', `sim measurement name "${n}" must match ${NAME}`);
    const v = b.measurements[n]!;
    const e = Buffer.alloc(1 + n.length + 2);
    e.writeUInt8(n.length, 0);
    e.write(n, 1, 'ascii');
    e.writeUInt16LE(v.length, 1 + n.length);
    parts.push(e, v);
  }
  return Buffer.concat(parts);
}

/** Pure and synchronous: structure only, no trust. */
export function parseSimQuote(quote: Uint8Array): ParsedSimQuote {
  const q = Buffer.from(quote);
  const bad = (why: string) => new PlatformError('EVIDENCE_MALFORMED', `sim quote: ${why}`);
  if (q.length < HEADER + 2 + SIG) throw bad(`too short (${q.length} bytes)`);
  if (!q.subarray(0, 8).equals(SIM_MAGIC)) throw bad('bad magic');
  const version = q.readUInt16LE(8);
  if (version !== SIM_VERSION) throw new PlatformError('UNSUPPORTED_VERSION', `sim quote version ${version} is not supported`);
  const flags = q.readUInt16LE(10);
  if (flags & ~1) throw bad(`unknown flags 0x${flags.toString(16)}`);
  const count = q.readUInt16LE(HEADER);
  let off = HEADER + 2;
  const measurements: Record<string, Buffer> = {};
  // The measurement list is length-delimited; the signature must fit after it.
  const end = q.length - SIG;
  for (let i = 0; i < count; i++) {
    if (off + 1 > end) throw bad('truncated measurement list');
    const nl = q.readUInt8(off);
    if (off + 1 + nl + 2 > end) throw bad('truncated measurement name');
    const name = q.toString('ascii', off + 1, off + 1 + nl);
    if (!NAME.test(name)) throw bad(`invalid measurement name "${name}"`);
    if (name in measurements) throw bad(`duplicate measurement "${name}"`);
    const vl = q.readUInt16LE(off + 1 + nl);
    const vs = off + 1 + nl + 2;
    if (vs + vl > end) throw bad(`truncated measurement value ${name}`);
    measurements[name] = q.subarray(vs, vs + vl);
    off = vs + vl;
  }
  return {
    debug: (flags & 1) === 1,
    issuedAt: Number(q.readBigUInt64LE(12)),
    keyId: q.subarray(20, 52),
    reportData: q.subarray(52, 116),
    measurements,
    signed: q.subarray(0, off),
    signature: q.subarray(off, off + SIG),
    trailing: q.subarray(off + SIG),
  };
}
