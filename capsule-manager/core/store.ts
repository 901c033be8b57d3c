// The one storage interface behind the capsule manager: a small key-value store
// with revisions and compare-and-set, the common ground of the embedded file
// store and NATS JetStream KV. Keys are dot-separated tokens of [A-Za-z0-9_=-]
// (what NATS KV accepts); callers encode arbitrary names (see encodeKeyPart).
import { CmError } from '../errors.ts';

export interface KvEntry {
  key: string;
  value: Buffer;
  /** Monotonic per store; changes on every write of this key. */
  revision: number;
}

export interface Store {
  readonly kind: 'file' | 'nats';
  get(key: string): Promise<KvEntry | undefined>;
  /** Creates the key; ALREADY_EXISTS when it exists. Resolves once durable. */
  create(key: string, value: Buffer): Promise<number>;
  /** Replaces the value if the key's revision is still `revision`; CONFLICT otherwise (NOT_FOUND when gone). */
  update(key: string, value: Buffer, revision: number): Promise<number>;
  /** Deletes the key (only at `revision` when given); NOT_FOUND when absent. */
  delete(key: string, revision?: number): Promise<void>;
  /** Every live entry whose key starts with `prefix` + "." (or all with prefix ""). */
  list(prefix: string): Promise<KvEntry[]>;
  close(): Promise<void>;
}

const KEY = /^[A-Za-z0-9_=-]{1,256}(\.[A-Za-z0-9_=-]{1,256}){0,7}$/;

export function checkKey(key: string): void {
  if (typeof key !== 'string' || !KEY.test(key)) throw new CmError('INVALID_REQUEST', `invalid store key ${JSON.stringify(String(key).slice(0, 80))}`);
}

/** Any string -> one key token (base64url, "=" for the empty string). */
export function encodeKeyPart(s: string): string {
  return s.length === 0 ? '=' : Buffer.from(s, 'utf8').toString('base64url');
}

export function decodeKeyPart(s: string): string {
  return s === '=' ? '' : Buffer.from(s, 'base64url').toString('utf8');
}
