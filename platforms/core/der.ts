// A minimal DER reader for the few vendor extensions we must read (Intel SGX
// PCK extension, AMD VCEK TCB integers). Bounds-checked; throws on malformed input.
import { PlatformError } from '../errors.ts';

export interface Tlv {
  tag: number;
  /** Offset of the value within the buffer. */
  start: number;
  end: number;
  value: Buffer;
}

export function readTlv(buf: Buffer, off: number): Tlv {
  const bad = () => new PlatformError('EVIDENCE_MALFORMED', 'malformed DER in certificate extension');
  if (off + 2 > buf.length) throw bad();
  const tag = buf[off]!;
  let len = buf[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw bad();
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > buf.length) throw bad();
  return { tag, start: p, end: p + len, value: buf.subarray(p, p + len) };
}

export function children(buf: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let off = 0;
  while (off < buf.length) {
    const t = readTlv(buf, off);
    out.push(t);
    off = t.end;
  }
  return out;
}

/** Dotted OID -> DER content bytes. */
export function encodeOid(oid: string): Buffer {
  const parts = oid.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const v of parts.slice(2)) {
    const stack = [v & 0x7f];
    let x = v >>> 7;
    while (x > 0) {
      stack.unshift((x & 0x7f) | 0x80);
      x >>>= 7;
    }
    out.push(...stack);
  }
  return Buffer.from(out);
}

export function derInteger(value: Buffer): number {
  let n = 0;
  for (const b of value) n = n * 256 + b;
  return n;
}

/**
 * In a SEQUENCE OF SEQUENCE { OID, value } (Intel's SGX extension layout),
 * returns the value TLV for `oid`, descending into nested sequences.
 */
export function findOidValue(seq: Buffer, oid: string): Tlv | undefined {
  const want = encodeOid(oid);
  for (const item of children(seq)) {
    if (item.tag !== 0x30) continue;
    const kids = children(item.value);
    if (kids.length < 2 || kids[0]!.tag !== 0x06) continue;
    if (kids[0]!.value.equals(want)) return kids[1];
    if (kids[1]!.tag === 0x30) {
      const nested = findOidValue(kids[1]!.value, oid);
      if (nested) return nested;
    }
  }
  return undefined;
}
