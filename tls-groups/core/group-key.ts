// The group key and group id, derived from a data key (pure).
//
//   groupKey = HKDF-SHA256(ikm = dataKey, salt = "aenv/tls-groups/v1",
//                          info = lp(scope) || lp(dataUuid) || lp("interact") || lp(epoch))
//   groupId  = hex(HKDF-SHA256(groupKey, salt, info = "group-id"))[0..32)
//
// lp(x) = u16be(len(x)) || x: length-prefixing keeps ("ab","c") and ("a","bc")
// apart. Everything downstream (the CA key, the shared-asset key) is expanded
// from groupKey with its own label, so no two uses share key material, and the
// group id reveals nothing about the data key (HKDF output is one-way).
import { hkdfSync } from 'node:crypto';
import { TlsGroupError } from '../errors.ts';

export const GROUP_OP = 'interact';
const SALT = Buffer.from('aenv/tls-groups/v1', 'utf8');

export interface GroupContext {
  dataKey: Buffer;
  /** Empty scope means "default" (Trustflow). */
  scope: string;
  dataUuid: string;
  /** CA generation; bump to re-key the whole group (default 0). */
  epoch?: number;
}

export interface GroupKey {
  key: Buffer;
  groupId: string;
  scope: string;
  dataUuid: string;
  epoch: number;
}

function lp(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

/** HKDF-expand a labelled sub-key of the group key. */
export function expandGroupKey(groupKey: Buffer, label: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', groupKey, SALT, Buffer.from(label, 'utf8'), length));
}

export function deriveGroupKey(ctx: GroupContext): GroupKey {
  if (!Buffer.isBuffer(ctx.dataKey) || ![16, 24, 32].includes(ctx.dataKey.length)) {
    throw new TlsGroupError('BAD_DATA_KEY', `data key must be 16, 24 or 32 bytes, got ${Buffer.isBuffer(ctx.dataKey) ? ctx.dataKey.length : typeof ctx.dataKey}`);
  }
  const scope = ctx.scope === '' ? 'default' : ctx.scope;
  if (typeof scope !== 'string' || scope.length > 256) throw new TlsGroupError('BAD_GROUP_CONTEXT', 'scope must be a string of at most 256 characters');
  if (typeof ctx.dataUuid !== 'string' || ctx.dataUuid.length === 0 || ctx.dataUuid.length > 256) {
    throw new TlsGroupError('BAD_GROUP_CONTEXT', 'data_uuid must be a non-empty string of at most 256 characters');
  }
  const epoch = ctx.epoch ?? 0;
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new TlsGroupError('BAD_GROUP_CONTEXT', 'epoch must be a non-negative integer');
  const info = Buffer.concat([lp(scope), lp(ctx.dataUuid), lp(GROUP_OP), lp(String(epoch))]);
  const key = Buffer.from(hkdfSync('sha256', ctx.dataKey, SALT, info, 32));
  const groupId = expandGroupKey(key, 'group-id', 16).toString('hex');
  return { key, groupId, scope, dataUuid: ctx.dataUuid, epoch };
}
