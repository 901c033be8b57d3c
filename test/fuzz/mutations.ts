// Mutation arbitraries shared by the fuzz tests: a valid input (a sealed
// envelope, a real attestation vector, a .enc file) plus a short list of edits
// (bit flip, byte set, truncate, extend, delete or duplicate a range). Indexes are
// drawn as naturals and reduced modulo the length at apply time, so one
// arbitrary fits inputs of any size and shrinks towards the start of the input.
import { fc } from './fuzz-config.ts';

export type ByteEdit =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'extend'; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'duplicate'; at: number; len: number };

export const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }) },
);

export const byteEdits = (maxLength = 4): fc.Arbitrary<ByteEdit[]> => fc.array(byteEdit, { minLength: 1, maxLength });

export function applyEdit(input: Buffer, e: ByteEdit): Buffer {
  const n = input.length;
  const at = n === 0 ? 0 : (e as { at?: number }).at === undefined ? 0 : (e as { at: number }).at % n;
  switch (e.op) {
    case 'flip': {
      if (n === 0) return input;
      const b = Buffer.from(input);
      b[at] = b[at]! ^ (1 << e.bit);
      return b;
    }
    case 'set': {
      if (n === 0) return input;
      const b = Buffer.from(input);
      b[at] = e.value;
      return b;
    }
    case 'truncate':
      return Buffer.from(input.subarray(0, at));
    case 'extend':
      return Buffer.concat([input, e.bytes]);
    case 'delete':
      return Buffer.concat([input.subarray(0, at), input.subarray(at + e.len)]);
    case 'insert':
      return Buffer.concat([input.subarray(0, at), e.bytes, input.subarray(at)]);
    case 'duplicate':
      return Buffer.concat([input.subarray(0, at + e.len), input.subarray(at, at + e.len), input.subarray(at + e.len)]);
  }
}

export function applyEdits(input: Uint8Array, edits: readonly ByteEdit[]): Buffer {
  return edits.reduce<Buffer>((b, e) => applyEdit(b, e), Buffer.from(input));
}

/** True when the edits left the bytes as they were (e.g. a flip twice): such a case proves nothing. */
export function unchanged(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** Edits of a string, for text formats (compact JWE, base64 fields): the same ops over latin1 bytes. */
export function applyTextEdits(s: string, edits: readonly ByteEdit[]): string {
  return applyEdits(Buffer.from(s, 'latin1'), edits).toString('latin1');
}

/**
 * A JSON value that exercises parsers: arbitrary JSON plus the odd members a
 * hostile client sends (JS object keys like __proto__ / constructor, huge and
 * negative numbers, very long strings).
 */
export const hostileKey = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'length', '0', '') },
);

export const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1e308, -1, 2 ** 53, 2 ** 64)),
    fc.string({ maxLength: 24 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/**
 * Format-aware edits of a PEM text: the edits apply to the DER inside the first
 * block (re-encoded as PEM), so they reach the certificate parser instead of
 * mostly breaking the base64. Text without a PEM block gets plain text edits.
 */
export function applyPemEdits(s: string, edits: readonly ByteEdit[]): string {
  const m = /-----BEGIN ([A-Z ]+)-----([\s\S]+?)-----END \1-----/.exec(s);
  if (!m) return applyTextEdits(s, edits);
  const der = applyEdits(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64'), edits);
  const body = (der.toString('base64').match(/.{1,64}/g) ?? []).join('\n');
  return `${s.slice(0, m.index)}-----BEGIN ${m[1]}-----\n${body}\n-----END ${m[1]}-----${s.slice(m.index + m[0].length)}`;
}
