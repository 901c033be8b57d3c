// The data capsule proxy's core: GetInputData (fetch `.enc` inputs, obtain the
// key, decrypt into a destination directory) and PutResultData (encrypt a result,
// store it, register its key and lineage with the capsule manager). Transport
// free: the gRPC and HTTP adapters call these two functions.
//
// Inputs are decrypted all-or-nothing: every file goes to a staging directory
// inside the destination and is renamed into place only after every file
// verified, so a tampered or truncated input leaves no plaintext behind.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline as pipelineCb, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../../foundation/logger.ts';
import type {
  GetInputDataRequest,
  GetInputDataResponse,
  PutResultDataRequest,
  PutResultDataResponse,
  S3Config,
} from '../../proto/gen/secretflowapis/v2/sdc/data_capsule_proxy/data_capsule_proxy.ts';
import { writeFileAtomically } from '../storage/atomic-file.ts';
import type { CapsuleManagerPort } from './cm-port.ts';
import { safeRelative, type DataStore, type StoredObject } from './data-store.ts';
import { decodeDataKeyB64, decryptStream, encryptStream, encryptedSize } from './enc-format.ts';
import { DcpError } from '../errors.ts';
import type { LocalFsStore } from '../storage/local-fs-store.ts';

export const ENC_SUFFIX = '.enc';

/** What the encrypting pipeline reports when the store destroyed the body it was reading. */
const BODY_DESTROYED = new Set(['ABORT_ERR', 'ERR_STREAM_PREMATURE_CLOSE']);

export interface DataCapsuleProxyDeps {
  /** The local file system, confined to the configured roots. */
  local: LocalFsStore;
  /** Opens an S3-compatible store for a request's s3_config (checks the endpoint policy). */
  openS3(cfg: S3Config): DataStore & { close?(): void };
  /** The capsule manager; absent means requests needing it fail with CM_NOT_CONFIGURED. */
  cm?: CapsuleManagerPort;
  logger: Logger;
  /** Observability hooks (counters); optional. */
  onFile?(op: 'decrypt' | 'encrypt', bytes: number): void;
}

export interface GetInputResult {
  files: string[];
}

export interface PutResultResult {
  objects: string[];
  registered: boolean;
}

const OK = { code: 0, message: 'success', details: [] };

export function okInputResponse(): GetInputDataResponse {
  return { status: { ...OK } };
}

export function okResultResponse(): PutResultDataResponse {
  return { status: { ...OK } };
}

function outputName(o: StoredObject, single: boolean): string {
  const rel = single ? o.rel.split('/').pop()! : o.rel;
  return safeRelative(rel.endsWith(ENC_SUFFIX) && rel.length > ENC_SUFFIX.length ? rel.slice(0, -ENC_SUFFIX.length) : rel);
}

export class DataCapsuleProxyCore {
  constructor(private readonly deps: DataCapsuleProxyDeps) {}

  async #inputKey(req: GetInputDataRequest): Promise<Buffer> {
    if (req.dataKeyB64 !== undefined && req.cmResourceConfig !== undefined) {
      throw new DcpError('INVALID_REQUEST', 'set either data_key_b64 or cm_resource_config, not both');
    }
    if (req.dataKeyB64 !== undefined) return decodeDataKeyB64(req.dataKeyB64);
    const c = req.cmResourceConfig;
    if (!c) throw new DcpError('INVALID_REQUEST', 'data_key_config is missing: set data_key_b64 or cm_resource_config');
    if (!c.resourceUri) throw new DcpError('INVALID_REQUEST', 'cm_resource_config.resource_uri is required');
    if (!c.opName) throw new DcpError('INVALID_REQUEST', 'cm_resource_config.op_name is required');
    if (!this.deps.cm) throw new DcpError('CM_NOT_CONFIGURED', 'this proxy has no capsule manager configured');
    return this.deps.cm.getDataKey({
      endpoint: c.endpoint,
      scope: c.scope,
      opName: c.opName,
      resourceUri: c.resourceUri,
      columns: c.columns,
      globalAttrs: c.globalAttrs,
    });
  }

  #sourceStore(local: { path: string } | undefined, s3: S3Config | undefined, what: string): { store: DataStore & { close?(): void }; path: string } {
    if (local && s3) throw new DcpError('INVALID_REQUEST', `${what}: set local_fs_config or s3_config, not both`);
    if (local) return { store: this.deps.local, path: local.path };
    if (s3) return { store: this.deps.openS3(s3), path: s3.path };
    throw new DcpError('INVALID_REQUEST', `${what} is missing: set local_fs_config or s3_config`);
  }

  async getInputData(req: GetInputDataRequest): Promise<GetInputResult> {
    const destPath = req.destConfig?.path;
    if (!destPath) throw new DcpError('INVALID_REQUEST', 'dest_config.path is required');
    const { store, path } = this.#sourceStore(req.localFsConfig, req.s3Config, 'source_config');
    let key: Buffer | undefined;
    try {
      const dest = await this.deps.local.confine(destPath);
      const listing = await store.list(path);
      const inputs = listing.single ? listing.objects : listing.objects.filter((o) => o.rel.endsWith(ENC_SUFFIX));
      if (inputs.length === 0) throw new DcpError('NO_INPUT_FILES', `no *${ENC_SUFFIX} files at ${path}`);
      const names = inputs.map((o) => outputName(o, listing.single));
      if (new Set(names).size !== names.length) throw new DcpError('INVALID_REQUEST', 'two inputs map to the same output name');
      // The key is fetched only once the inputs are known to exist.
      key = await this.#inputKey(req);
      const k = key;
      await mkdir(dest, { recursive: true, mode: 0o700 });
      const stage = await mkdtemp(join(dest, '.dcp-stage-'));
      try {
        for (const [i, o] of inputs.entries()) {
          const staged = join(stage, ...names[i]!.split('/'));
          // The parent must exist before the temp file is opened.
          await mkdir(dirname(staged), { recursive: true, mode: 0o700 });
          const body = await store.read(o.key);
          const n = await writeFileAtomically(staged, (sink) => pipeline(body, decryptStream(k), sink)).catch(async (e: unknown) => {
            body.destroy();
            throw e;
          });
          this.deps.onFile?.('decrypt', n);
        }
        for (const name of names) {
          const to = join(dest, ...name.split('/'));
          await mkdir(dirname(to), { recursive: true, mode: 0o700 });
          await rename(join(stage, ...name.split('/')), to);
        }
      } finally {
        await rm(stage, { recursive: true, force: true });
      }
      this.deps.logger.info({ files: names.length, source: store.kind }, 'inputs decrypted');
      return { files: names.map((n) => join(dest, ...n.split('/'))) };
    } finally {
      key?.fill(0);
      if (store !== this.deps.local) store.close?.();
    }
  }

  async putResultData(req: PutResultDataRequest): Promise<PutResultResult> {
    const srcPath = req.sourceConfig?.path;
    if (!srcPath) throw new DcpError('INVALID_REQUEST', 'source_config.path is required');
    const register = Boolean(req.cmResultConfig?.resourceUri);
    if (!req.dataKeyB64 && !register) {
      // A fresh key nobody registers would make the result unreadable forever.
      throw new DcpError('INVALID_REQUEST', 'without data_key_b64 the result key must be registered: set cm_result_config.resource_uri');
    }
    if (register && !this.deps.cm) throw new DcpError('CM_NOT_CONFIGURED', 'this proxy has no capsule manager configured');
    const key = req.dataKeyB64 ? decodeDataKeyB64(req.dataKeyB64) : randomBytes(16);
    const { store, path: destPath } = this.#sourceStore(req.localFsConfig, req.s3Config, 'dest_config');
    const written: string[] = [];
    try {
      const listing = await this.deps.local.list(srcPath);
      if (listing.objects.length === 0) throw new DcpError('NO_INPUT_FILES', `no result files at ${srcPath}`);
      const container = await store.isContainer(destPath);
      if (!listing.single && !container && store.kind === 'local' && (await stat(await this.deps.local.confine(destPath)).catch(() => undefined))) {
        throw new DcpError('INVALID_REQUEST', 'a directory result needs a directory destination');
      }
      try {
        for (const o of listing.objects) {
          const target = listing.single && !container ? destPath : store.join(destPath, `${safeRelative(o.rel)}${ENC_SUFFIX}`);
          await this.#encryptOne(o, key, store, target);
          written.push(target);
          this.deps.onFile?.('encrypt', o.size);
        }
        if (register) {
          const c = req.cmResultConfig!;
          await this.deps.cm!.createResultDataKey({
            endpoint: c.endpoint,
            scope: c.scope,
            resourceUri: c.resourceUri,
            dataKey: key,
            ancestorUuids: c.ancestorUuids,
          });
        }
      } catch (e) {
        // A partial or unregistered result is useless (nobody can decrypt it): remove what was written.
        await Promise.all(written.map((k) => store.remove(k).catch(() => undefined)));
        throw e;
      }
      this.deps.logger.info({ files: written.length, dest: store.kind, registered: register }, 'result encrypted');
      return { objects: written, registered: register };
    } finally {
      key.fill(0);
      if (store !== this.deps.local) store.close?.();
    }
  }

  async #encryptOne(o: StoredObject, key: Buffer, store: DataStore, target: string): Promise<void> {
    const src = createReadStream(o.key);
    const enc = encryptStream(key, { plaintextLength: o.size });
    let streamError: unknown;
    const body: Readable = pipelineCb(src, enc, (e) => {
      if (e) streamError = e;
    });
    try {
      await store.write(target, body, encryptedSize(o.size));
    } catch (e) {
      // Prefer the stream's own error (e.g. the file changed size) over the storage's view of it,
      // but not the abort a failing store causes by destroying the body: that would replace the
      // store's coded error (STORAGE_FAILED) with an uncoded one (INTERNAL).
      throw streamError && !BODY_DESTROYED.has((streamError as NodeJS.ErrnoException).code ?? '') ? streamError : e;
    }
    if (streamError) throw streamError;
  }
}
