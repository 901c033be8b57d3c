// One interface over where encrypted inputs come from and results go to: the
// local file system or S3-compatible object storage. Keys are store-specific
// (an absolute path, or an object key); `rel` is the '/'-separated path of an
// object below the listed root, used to name outputs.
import type { Readable } from 'node:stream';
import { DcpError } from '../errors.ts';

export interface StoredObject {
  key: string;
  /** Path relative to the listing root ('' root -> the object's own base name for a single object). */
  rel: string;
  size: number;
}

export interface Listing {
  /** The path named one object (not a directory or prefix). */
  single: boolean;
  objects: StoredObject[];
}

export interface DataStore {
  readonly kind: 'local' | 's3';
  /** The object at `path`, or every object below it when it is a directory/prefix. */
  list(path: string): Promise<Listing>;
  read(key: string): Promise<Readable>;
  /** Writes exactly `size` bytes from `body` to `key`; a reader never sees a partial object. */
  write(key: string, body: Readable, size: number): Promise<void>;
  /** Joins a base (directory or prefix) and a relative name in this store's syntax. */
  join(base: string, rel: string): string;
  /** Whether `path` denotes a directory/prefix (existing directory, or trailing '/'). */
  isContainer(path: string): Promise<boolean>;
  remove(key: string): Promise<void>;
}

/**
 * A relative name from a listing must stay below the destination: object keys
 * may contain anything, including '..'.
 */
export function safeRelative(rel: string): string {
  const parts = rel.split('/');
  if (rel.length === 0 || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\0') || p.includes('\\'))) {
    throw new DcpError('PATH_NOT_ALLOWED', `object name "${rel.slice(0, 200)}" is not a safe relative path`);
  }
  return rel;
}
