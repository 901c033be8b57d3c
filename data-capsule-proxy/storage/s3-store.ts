// DataStore over S3-compatible object storage (AWS S3, MinIO, OSS's S3 API,
// moto in tests) with @aws-sdk/client-s3: path-style addressing, streaming
// GET/PUT bodies (nothing is buffered), paginated listing. Objects above the
// multipart threshold are uploaded in parts (@aws-sdk/lib-storage), so results
// are not capped at the 5 GiB of a single PUT; a failed multipart upload is
// aborted, so no parts are left behind and no object appears.
import { Upload } from '@aws-sdk/lib-storage';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import type { DataStore, Listing, StoredObject } from '../core/data-store.ts';
import { DcpError } from '../errors.ts';

export interface S3StoreOptions {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region?: string;
  /** Objects larger than this go up in parts (default 64 MiB; at least 5 MiB). */
  multipartThresholdBytes?: number;
  /** Part size of multipart uploads (default 16 MiB, at least 5 MiB; raised to fit S3's 10,000 parts). */
  partSizeBytes?: number;
}

const MIB = 1024 * 1024;
/** S3's smallest part (but the last) and largest part count. */
const MIN_PART = 5 * MIB;
const MAX_PARTS = 10_000;
/** Parts in flight per upload: each is buffered in memory. */
const PART_QUEUE = 2;

/** The part size for an object of `size` bytes: at least `preferred`, few enough parts for S3. */
export function partSizeFor(size: number, preferred = 16 * MIB): number {
  return Math.max(MIN_PART, preferred, Math.ceil(size / MAX_PARTS));
}

/** Object storage errors carry no secrets, but we keep only their name/status for the client. */
function storageError(what: string, e: unknown): DcpError {
  if (DcpError.is(e)) return e;
  const name = e instanceof S3ServiceException ? `${e.name} (HTTP ${e.$metadata.httpStatusCode ?? '?'})` : (e as Error)?.name ?? 'error';
  if (e instanceof S3ServiceException && (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.name === 'NoSuchBucket')) {
    return new DcpError('SOURCE_NOT_FOUND', `${what}: ${name}`, { cause: e });
  }
  return new DcpError('STORAGE_FAILED', `${what}: ${name}`, { cause: e });
}

export class S3Store implements DataStore {
  readonly kind = 's3' as const;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #multipartThreshold: number;
  readonly #partSize: number;

  constructor(opts: S3StoreOptions) {
    if (!opts.endpoint || !opts.bucket) throw new DcpError('INVALID_REQUEST', 's3_config needs endpoint and bucket');
    const endpoint = /^https?:\/\//.test(opts.endpoint) ? opts.endpoint : `https://${opts.endpoint}`;
    this.#bucket = opts.bucket;
    this.#multipartThreshold = Math.max(MIN_PART, opts.multipartThresholdBytes ?? 64 * MIB);
    this.#partSize = Math.max(MIN_PART, opts.partSizeBytes ?? 16 * MIB);
    this.#client = new S3Client({
      endpoint,
      region: opts.region ?? 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey, sessionToken: opts.sessionToken || undefined },
      // Plain Content-Length uploads of a stream: the aws-chunked trailer checksums
      // the SDK would add by default are not spoken by every S3-compatible server.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 2,
    });
  }

  async list(path: string): Promise<Listing> {
    const key = path.replace(/^\/+/, '');
    if (key && !key.endsWith('/')) {
      try {
        const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
        return { single: true, objects: [{ key, rel: key.split('/').pop()!, size: Number(head.ContentLength ?? 0) }] };
      } catch (e) {
        const err = storageError(`s3 head ${key}`, e);
        if (err.code !== 'SOURCE_NOT_FOUND') throw err;
      }
    }
    const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
    const objects: StoredObject[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token }));
      } catch (e) {
        throw storageError(`s3 list ${prefix}`, e);
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        objects.push({ key: o.Key, rel: o.Key.slice(prefix.length), size: Number(o.Size ?? 0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (objects.length === 0) throw new DcpError('SOURCE_NOT_FOUND', `no object at s3://${this.#bucket}/${key}`);
    return { single: false, objects };
  }

  async read(key: string): Promise<Readable> {
    let body: Readable;
    try {
      const res = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      if (!(res.Body instanceof Readable)) throw new DcpError('STORAGE_FAILED', `s3 get ${key}: no stream body`);
      body = res.Body;
    } catch (e) {
      throw storageError(`s3 get ${key}`, e);
    }
    // The server can also fail mid-body (connection reset, server gone): that error
    // carries the storage code too, not a bare socket error (which would be INTERNAL).
    // Destroying the returned stream stops the download (the generator's return ends the loop).
    return Readable.from(
      (async function* () {
        try {
          for await (const chunk of body) yield chunk as Buffer;
        } catch (e) {
          throw storageError(`s3 get ${key}`, e);
        }
      })(),
      { objectMode: false },
    );
  }

  /**
   * Up to the multipart threshold, one PUT with a known Content-Length; above
   * it, a multipart upload. Either way S3 stores the object whole or not at all.
   */
  async write(key: string, body: Readable, size: number): Promise<void> {
    if (size > this.#multipartThreshold) return this.#writeParts(key, body, size);
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: body, ContentLength: size }));
    } catch (e) {
      body.destroy();
      throw storageError(`s3 put ${key}`, e);
    }
  }

  async #writeParts(key: string, body: Readable, size: number): Promise<void> {
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: body },
      partSize: partSizeFor(size, this.#partSize),
      queueSize: PART_QUEUE,
      leavePartsOnError: false, // abort the multipart upload on any failure
    });
    try {
      await upload.done();
    } catch (e) {
      body.destroy();
      throw storageError(`s3 multipart put ${key}`, e);
    }
  }

  join(base: string, rel: string): string {
    const b = base.replace(/^\/+/, '');
    return b === '' ? rel : `${b.replace(/\/+$/, '')}/${rel}`;
  }

  async isContainer(path: string): Promise<boolean> {
    return path === '' || path.endsWith('/');
  }

  async remove(key: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (e) {
      throw storageError(`s3 delete ${key}`, e);
    }
  }

  close(): void {
    this.#client.destroy();
  }
}
