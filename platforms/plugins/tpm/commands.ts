// The three TPM 2.0 commands the attester needs, as bytes in and bytes out:
// TPM2_Quote (with an empty-password session for the AK), TPM2_PCR_Read and
// TPM2_ReadPublic. The transport (a /dev/tpmrm0 file, or anything that speaks
// the TPM command protocol) is injected.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { PlatformError } from '../../errors.ts';
import { ALG, BeReader, parseTpmtSignature, readPcrSelections, type PcrSelection } from './attest.ts';

export interface TpmTransport {
  transmit(command: Buffer): Promise<Buffer>;
}

const CC = { Quote: 0x158, PCR_Read: 0x17e, ReadPublic: 0x173 } as const;
const ST_NO_SESSIONS = 0x8001;
const ST_SESSIONS = 0x8002;
const RS_PW = 0x40000009;

/** Big-endian TPM wire encoders (also used by the test TPM responder). */
export function u16(v: number) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
export function u32(v: number) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}
export const tpm2b = (b: Buffer) => Buffer.concat([u16(b.length), b]);

function command(tag: number, cc: number, body: Buffer[]): Buffer {
  const rest = Buffer.concat(body);
  return Buffer.concat([u16(tag), u32(10 + rest.length), u32(cc), rest]);
}

export function encodePcrSelection(sel: PcrSelection[]): Buffer {
  return Buffer.concat([
    u32(sel.length),
    ...sel.map((s) => {
      const bits = Buffer.alloc(3);
      for (const p of s.pcrs) bits[p >> 3]! |= 1 << (p & 7);
      return Buffer.concat([u16(s.hash), Buffer.from([3]), bits]);
    }),
  ]);
}

async function call(t: TpmTransport, cmd: Buffer, what: string): Promise<BeReader> {
  let resp: Buffer;
  try {
    resp = await t.transmit(cmd);
  } catch (cause) {
    throw new PlatformError('DEVICE_ERROR', `TPM ${what}: transport failed`, { cause });
  }
  const r = new BeReader(resp);
  r.u16('tag');
  const size = r.u32('size');
  if (size !== resp.length) throw new PlatformError('DEVICE_ERROR', `TPM ${what}: response size mismatch`);
  const rc = r.u32('rc');
  if (rc !== 0) throw new PlatformError('DEVICE_ERROR', `TPM ${what} failed with response code 0x${rc.toString(16)}`);
  return r;
}

const pwSession = () => Buffer.concat([u32(9), u32(RS_PW), u16(0), Buffer.from([0]), u16(0)]);

export function quoteCommand(akHandle: number, qualifyingData: Buffer, sel: PcrSelection[]): Buffer {
  return command(ST_SESSIONS, CC.Quote, [u32(akHandle), pwSession(), tpm2b(qualifyingData), u16(ALG.NULL), encodePcrSelection(sel)]);
}

export async function tpmQuote(t: TpmTransport, akHandle: number, qualifyingData: Buffer, sel: PcrSelection[]): Promise<{ attest: Buffer; signature: Buffer }> {
  const r = await call(t, quoteCommand(akHandle, qualifyingData, sel), 'Quote');
  r.u32('parameterSize');
  const attest = Buffer.from(r.tpm2b('quoted'));
  const start = r.off;
  const sig = parseTpmtSignature(r.b.subarray(start));
  // re-measure the signature's encoded length to cut it out exactly
  const len = 4 + (sig.r ? 4 + sig.r.length + sig.s!.length : 2 + sig.sig.length);
  return { attest, signature: Buffer.from(r.b.subarray(start, start + len)) };
}

export async function tpmPcrRead(t: TpmTransport, sel: PcrSelection): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  let remaining = [...sel.pcrs];
  while (remaining.length > 0) {
    const r = await call(t, command(ST_NO_SESSIONS, CC.PCR_Read, [encodePcrSelection([{ hash: sel.hash, pcrs: remaining }])]), 'PCR_Read');
    r.u32('pcrUpdateCounter');
    const got = readPcrSelections(r).flatMap((s) => s.pcrs);
    const n = r.u32('digest count');
    if (n === 0 || n !== got.length) throw new PlatformError('DEVICE_ERROR', 'TPM PCR_Read returned no progress');
    for (const idx of got) out.set(idx, Buffer.from(r.tpm2b('pcr digest')));
    remaining = remaining.filter((p) => !out.has(p));
  }
  return out;
}

const CURVES: Record<number, string> = { 0x0003: 'P-256', 0x0004: 'P-384', 0x0005: 'P-521' };

export function publicFromTpmt(b: Buffer): KeyObject {
  const r = new BeReader(b);
  const type = r.u16('type');
  r.u16('nameAlg');
  r.u32('objectAttributes');
  r.tpm2b('authPolicy');
  const sym = r.u16('symmetric');
  if (sym !== ALG.NULL) r.take(4, 'symmetric details');
  const scheme = r.u16('scheme');
  if (scheme !== ALG.NULL) r.u16('scheme hash');
  if (type === 0x0001) {
    r.u16('keyBits');
    const exp = r.u32('exponent') || 65537;
    const n = r.tpm2b('modulus');
    const e = Buffer.from(exp.toString(16).padStart(exp.toString(16).length + (exp.toString(16).length % 2), '0'), 'hex');
    return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
  }
  if (type === 0x0023) {
    const crv = CURVES[r.u16('curveID')];
    const kdf = r.u16('kdf');
    if (kdf !== ALG.NULL) r.u16('kdf hash');
    const x = r.tpm2b('x');
    const y = r.tpm2b('y');
    if (!crv) throw new PlatformError('UNSUPPORTED_VERSION', 'TPM AK curve is not supported');
    return createPublicKey({ key: { kty: 'EC', crv, x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
  }
  throw new PlatformError('UNSUPPORTED_VERSION', `TPM AK type 0x${type.toString(16)} is not RSA or ECC`);
}

export async function tpmReadPublic(t: TpmTransport, handle: number): Promise<KeyObject> {
  const r = await call(t, command(ST_NO_SESSIONS, CC.ReadPublic, [u32(handle)]), 'ReadPublic');
  return publicFromTpmt(Buffer.from(r.tpm2b('outPublic')));
}
