// Field checks several RPCs share beyond their schema's types.
import { CmError } from '../../errors.ts';
import { checkScope, scopeOf } from '../model.ts';

/** A standard-base64 AES key of 16, 24 or 32 bytes. */
export function dataKeyBytes(b64: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new CmError('INVALID_REQUEST', `${what} must be standard base64`);
  const k = Buffer.from(b64, 'base64');
  if (![16, 24, 32].includes(k.length)) throw new CmError('INVALID_REQUEST', `${what} must be a 16, 24 or 32-byte key`);
  return k;
}

/** The policy scope ('' means "default"), checked. */
export function scopeField(scope: string | null | undefined): string {
  const s = scopeOf(scope ?? '');
  checkScope(s);
  return s;
}
