import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { silentLogger } from '../../foundation/logger.ts';
import {
  DataCapsuleProxyService,
  GetInputDataRequest,
  PutResultDataRequest,
  type GetInputDataResponse,
  type PutResultDataResponse,
} from '../../proto/gen/secretflowapis/v2/sdc/data_capsule_proxy/data_capsule_proxy.ts';
import { startDataCapsuleProxy } from '../../data-capsule-proxy/start.ts';
import { decryptFile, decryptStream, encryptFile, encryptStream } from '../../data-capsule-proxy/core/enc-format.ts';
import type { CapsuleManagerPort, CmResultKeyRequest } from '../../data-capsule-proxy/core/cm-port.ts';
import { TEMP_MARKER } from '../../data-capsule-proxy/storage/atomic-file.ts';
import { startS3Server } from '../helpers/data-capsule-proxy.ts';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

type Unary<Req, Res> = (req: Req, cb: (e: grpc.ServiceError | null, r: Res) => void) => void;
function grpcClient(port: number) {
  const Ctor = grpc.makeGenericClientConstructor(DataCapsuleProxyService, 'DataCapsuleProxy');
  const c = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
    getInputData: Unary<GetInputDataRequest, GetInputDataResponse>;
    putResultData: Unary<PutResultDataRequest, PutResultDataResponse>;
    close(): void;
  };
  const call = <Req, Res>(f: Unary<Req, Res>, req: Req) =>
    new Promise<Res>((resolve, reject) => f.call(c, req, (e, r) => (e ? reject(e) : resolve(r))));
  return {
    getInputData: (req: Partial<GetInputDataRequest>) => call(c.getInputData, GetInputDataRequest.fromPartial(req)),
    putResultData: (req: Partial<PutResultDataRequest>) => call(c.putResultData, PutResultDataRequest.fromPartial(req)),
    close: () => c.close(),
  };
}

async function streamToBuffer(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(r, new Writable({ write(b: Buffer, _e, cb) { parts.push(b); cb(); } }));
  return Buffer.concat(parts);
}

async function encBuffer(plain: Buffer, key: Buffer): Promise<Buffer> {
  return streamToBuffer(Readable.from([plain]).pipe(encryptStream(key, { plaintextLength: plain.length })));
}

/** Everything under dir, recursively, with dot-files (temp/stage leftovers) included. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: false }) as string[];
}

class RecordingCm implements CapsuleManagerPort {
  registered: CmResultKeyRequest[] = [];
  fail = false;
  constructor(private readonly keys: Map<string, Buffer>) {}
  async getDataKey(req: { resourceUri: string }): Promise<Buffer> {
    const k = this.keys.get(req.resourceUri);
    if (!k) throw new Error('not granted');
    return Buffer.from(k);
  }
  async createResultDataKey(req: CmResultKeyRequest): Promise<void> {
    if (this.fail) throw new Error('registration refused');
    this.registered.push({ ...req, dataKey: Buffer.from(req.dataKey) });
  }
}

t.test('local FS over gRPC and HTTP: decrypt inputs, encrypt results, fail closed', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'dcp-svc-'));
  const outside = mkdtempSync(join(tmpdir(), 'dcp-out-'));
  const cm = new RecordingCm(new Map());
  const dcp = await startDataCapsuleProxy({ localRoots: [root], logLevel: 'silent' }, { logger: silentLogger, cm });
  t.teardown(() => dcp.close());
  const client = grpcClient(dcp.grpcPort!);
  t.teardown(() => client.close());
  const http = async (path: string, body: unknown) => {
    const r = await fetch(`http://127.0.0.1:${dcp.httpPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  const key = randomBytes(16);
  const keyB64 = key.toString('base64');
  const inDir = join(root, 'in');
  mkdirSync(join(inDir, 'sub'), { recursive: true });
  const a = randomBytes(20_000);
  const b = Buffer.from('id\nalice\nbob\n');
  writeFileSync(join(root, 'a.plain'), a);
  writeFileSync(join(root, 'b.plain'), b);
  await encryptFile(join(root, 'a.plain'), join(inDir, 'a.csv.enc'), key);
  await encryptFile(join(root, 'b.plain'), join(inDir, 'sub', 'b.csv.enc'), key);
  writeFileSync(join(inDir, 'README.txt'), 'not an input');

  await t.test('GetInputData (gRPC) decrypts every *.enc of a directory', async (t) => {
    const res = await client.getInputData({ dataKeyB64: keyB64, localFsConfig: { path: inDir }, destConfig: { path: join(root, 'plain') } });
    t.same(res.status, { code: 0, message: 'success', details: [] });
    t.equal(sha(readFileSync(join(root, 'plain', 'a.csv'))), sha(a));
    t.equal(sha(readFileSync(join(root, 'plain', 'sub', 'b.csv'))), sha(b));
    t.same(tree(join(root, 'plain')).sort(), ['a.csv', 'sub', 'sub/b.csv'], 'only the decrypted files, no staging leftovers');
  });

  await t.test('GetInputData (HTTP JSON, snake_case) for a single file', async (t) => {
    const res = await http('/DataCapsuleProxy/GetInputData', { data_key_b64: keyB64, local_fs_config: { path: join(inDir, 'a.csv.enc') }, dest_config: { path: join(root, 'single') } });
    t.equal(res.status, 200);
    t.same(res.body, { status: { code: 0, message: 'success' } });
    t.same(readdirSync(join(root, 'single')), ['a.csv']);
    const alias = await http('/api/v1/data_capsule_proxy/get_input_data', { data_key_b64: keyB64, local_fs_config: { path: join(inDir, 'sub') }, dest_config: { path: join(root, 'alias') } });
    t.equal(alias.status, 200, '/api/v1 alias');
    t.same(readdirSync(join(root, 'alias')), ['b.csv']);
  });

  await t.test('one tampered input: the request fails and no plaintext lands', async (t) => {
    const bad = join(root, 'bad');
    mkdirSync(bad);
    await encryptFile(join(root, 'a.plain'), join(bad, '1.enc'), key);
    await encryptFile(join(root, 'a.plain'), join(bad, '2.enc'), key);
    const buf = readFileSync(join(bad, '2.enc'));
    buf[buf.length - 3] ^= 0x80;
    writeFileSync(join(bad, '2.enc'), buf);
    const err = await client.getInputData({ dataKeyB64: keyB64, localFsConfig: { path: bad }, destConfig: { path: join(root, 'bad-out') } }).catch((e: grpc.ServiceError) => e);
    t.equal((err as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);
    t.match((err as grpc.ServiceError).details, /ENC_AUTH_FAILED/);
    t.same(tree(join(root, 'bad-out')), [], 'destination empty: the intact file 1 was not released either');
    const truncated = readFileSync(join(bad, '1.enc')).subarray(0, 20 + 8192);
    writeFileSync(join(bad, '2.enc'), truncated);
    const r = await http('/DataCapsuleProxy/GetInputData', { data_key_b64: keyB64, local_fs_config: { path: bad }, dest_config: { path: join(root, 'bad-out') } });
    t.equal(r.status, 400);
    t.equal(r.body.code, 'ENC_TRUNCATED');
    t.same(tree(join(root, 'bad-out')), []);
  });

  await t.test('bad requests are clear errors and change nothing', async (t) => {
    const cases: Array<[string, Record<string, unknown>, number, string]> = [
      ['no key', { local_fs_config: { path: inDir }, dest_config: { path: join(root, 'x') } }, 400, 'INVALID_REQUEST'],
      ['bad key', { data_key_b64: 'AAAA', local_fs_config: { path: inDir }, dest_config: { path: join(root, 'x') } }, 400, 'ENC_BAD_KEY'],
      ['wrong key', { data_key_b64: randomBytes(16).toString('base64'), local_fs_config: { path: inDir }, dest_config: { path: join(root, 'x') } }, 400, 'ENC_AUTH_FAILED'],
      ['no source', { data_key_b64: keyB64, dest_config: { path: join(root, 'x') } }, 400, 'INVALID_REQUEST'],
      ['no dest', { data_key_b64: keyB64, local_fs_config: { path: inDir } }, 400, 'INVALID_REQUEST'],
      ['source outside roots', { data_key_b64: keyB64, local_fs_config: { path: outside }, dest_config: { path: join(root, 'x') } }, 403, 'PATH_NOT_ALLOWED'],
      ['dest outside roots', { data_key_b64: keyB64, local_fs_config: { path: inDir }, dest_config: { path: join(outside, 'x') } }, 403, 'PATH_NOT_ALLOWED'],
      ['dest via .. outside', { data_key_b64: keyB64, local_fs_config: { path: inDir }, dest_config: { path: `${root}/../${outside.split('/').pop()}/y` } }, 403, 'PATH_NOT_ALLOWED'],
      ['missing source', { data_key_b64: keyB64, local_fs_config: { path: join(root, 'nope') }, dest_config: { path: join(root, 'x') } }, 404, 'SOURCE_NOT_FOUND'],
      ['no .enc files', { data_key_b64: keyB64, local_fs_config: { path: join(root, 'plain') }, dest_config: { path: join(root, 'x') } }, 404, 'NO_INPUT_FILES'],
    ];
    symlinkSync(outside, join(root, 'escape'));
    cases.push(['symlink escape', { data_key_b64: keyB64, local_fs_config: { path: join(root, 'escape') }, dest_config: { path: join(root, 'x') } }, 403, 'PATH_NOT_ALLOWED']);
    for (const [name, body, status, code] of cases) {
      const r = await http('/DataCapsuleProxy/GetInputData', body);
      t.equal(r.status, status, `${name}: HTTP ${status}`);
      t.equal(r.body.code, code, `${name}: ${code}`);
    }
    t.notOk(existsSync(join(root, 'x')) && tree(join(root, 'x')).length > 0, 'nothing written');
    t.same(readdirSync(outside), [], 'nothing written outside the roots');
  });

  await t.test('PutResultData: given key, fresh key registered with lineage, rollback when registration fails', async (t) => {
    writeFileSync(join(root, 'result.csv'), 'id\nbob\n');
    const r1 = await client.putResultData({ dataKeyB64: keyB64, sourceConfig: { path: join(root, 'result.csv') }, localFsConfig: { path: join(root, 'out', 'result.csv.enc') } });
    t.equal(r1.status?.code, 0);
    await decryptFile(join(root, 'out', 'result.csv.enc'), join(root, 'check.csv'), key);
    t.equal(readFileSync(join(root, 'check.csv'), 'utf8'), 'id\nbob\n');
    t.equal(cm.registered.length, 0, 'no registration without resource_uri');

    const noKey = await client.putResultData({ sourceConfig: { path: join(root, 'result.csv') }, localFsConfig: { path: join(root, 'out', 'x.enc') } }).catch((e: grpc.ServiceError) => e);
    t.match((noKey as grpc.ServiceError).details, /INVALID_REQUEST/, 'a fresh key that nobody registers is refused');
    t.notOk(existsSync(join(root, 'out', 'x.enc')));

    const r2 = await http('/DataCapsuleProxy/PutResultData', {
      source_config: { path: join(root, 'result.csv') },
      local_fs_config: { path: join(root, 'out') + '/' },
      cm_result_config: { scope: 'default', resource_uri: 'result-1', ancestor_uuids: ['alice-data', 'bob-data'] },
    });
    t.equal(r2.status, 200);
    t.equal(cm.registered.length, 1);
    const reg = cm.registered[0]!;
    t.same({ scope: reg.scope, resourceUri: reg.resourceUri, ancestorUuids: reg.ancestorUuids }, { scope: 'default', resourceUri: 'result-1', ancestorUuids: ['alice-data', 'bob-data'] });
    t.equal(reg.dataKey.length, 16, 'fresh 16-byte key');
    await decryptFile(join(root, 'out', 'result.csv.enc'), join(root, 'check2.csv'), reg.dataKey);
    t.equal(readFileSync(join(root, 'check2.csv'), 'utf8'), 'id\nbob\n', 'the registered key decrypts the stored result');

    cm.fail = true;
    const r3 = await http('/DataCapsuleProxy/PutResultData', {
      source_config: { path: join(root, 'result.csv') },
      local_fs_config: { path: join(root, 'out3', 'r.enc') },
      cm_result_config: { resource_uri: 'result-2', ancestor_uuids: ['alice-data'] },
    });
    t.equal(r3.status, 500);
    t.notOk(existsSync(join(root, 'out3', 'r.enc')), 'unregistered result removed');
    cm.fail = false;

    mkdirSync(join(root, 'resdir', 'part'), { recursive: true });
    writeFileSync(join(root, 'resdir', 'x.csv'), 'x');
    writeFileSync(join(root, 'resdir', 'part', 'y.csv'), 'y');
    await client.putResultData({ dataKeyB64: keyB64, sourceConfig: { path: join(root, 'resdir') }, localFsConfig: { path: join(root, 'resdir-enc') } });
    t.same(tree(join(root, 'resdir-enc')).sort(), ['part', 'part/y.csv.enc', 'x.csv.enc'], 'a directory result keeps its layout');
    t.same(tree(root).filter((f) => f.includes(TEMP_MARKER) || f.includes('.dcp-stage-')), [], 'no temp files anywhere');
  });
});

t.test('S3-compatible storage (moto_server on loopback)', async (t) => {
  const s3 = await startS3Server(t);
  await s3.createBucket('inputs');
  const root = mkdtempSync(join(tmpdir(), 'dcp-s3-'));
  // the smallest multipart settings S3 allows, so a 12 MiB result goes up in three parts
  const dcp = await startDataCapsuleProxy({ localRoots: [root], logLevel: 'silent', s3: { allowedEndpoints: [s3.endpoint], multipartThresholdMiB: 5, partSizeMiB: 5 } }, { logger: silentLogger });
  t.teardown(() => dcp.close());
  const client = grpcClient(dcp.grpcPort!);
  t.teardown(() => client.close());
  const key = randomBytes(32);
  const s3cfg = (path: string) => ({ endpoint: s3.endpoint, bucket: 'inputs', path, accessKeyId: s3.accessKeyId, accessKeySecret: s3.secretAccessKey, stsToken: '' });

  const x = randomBytes(50_000);
  const y = Buffer.from('hello from s3');
  await s3.client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'task/x.enc', Body: await encBuffer(x, key) }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'task/deep/y.enc', Body: await encBuffer(y, key) }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'task/notes.txt', Body: 'ignored' }));

  const res = await client.getInputData({ dataKeyB64: key.toString('base64'), s3Config: s3cfg('task'), destConfig: { path: join(root, 'dl') } });
  t.equal(res.status?.code, 0);
  t.equal(sha(readFileSync(join(root, 'dl', 'x'))), sha(x), 'prefix listing: x');
  t.equal(readFileSync(join(root, 'dl', 'deep', 'y'), 'utf8'), 'hello from s3', 'prefix listing: deep/y');
  await client.getInputData({ dataKeyB64: key.toString('base64'), s3Config: s3cfg('task/x.enc'), destConfig: { path: join(root, 'one') } });
  t.same(readdirSync(join(root, 'one')), ['x'], 'single object');

  const missing = await client.getInputData({ dataKeyB64: key.toString('base64'), s3Config: s3cfg('nothing-here'), destConfig: { path: join(root, 'm') } }).catch((e: grpc.ServiceError) => e);
  t.equal((missing as grpc.ServiceError).code, grpc.status.NOT_FOUND);
  const other = await client.getInputData({ dataKeyB64: key.toString('base64'), s3Config: { ...s3cfg('task'), endpoint: 'http://127.0.0.1:1' }, destConfig: { path: join(root, 'm') } }).catch((e: grpc.ServiceError) => e);
  t.equal((other as grpc.ServiceError).code, grpc.status.PERMISSION_DENIED, 'endpoint outside the allow list');

  await s3.client.send(new PutObjectCommand({ Bucket: 'inputs', Key: 'evil/../../x.enc', Body: await encBuffer(y, key) }));
  const evil = await client.getInputData({ dataKeyB64: key.toString('base64'), s3Config: s3cfg('evil'), destConfig: { path: join(root, 'evil') } }).catch((e: grpc.ServiceError) => e);
  t.equal((evil as grpc.ServiceError).code, grpc.status.PERMISSION_DENIED, "an object key with '..' cannot escape the destination");

  writeFileSync(join(root, 'result.csv'), 'bob\n');
  await client.putResultData({ dataKeyB64: key.toString('base64'), sourceConfig: { path: join(root, 'result.csv') }, s3Config: s3cfg('results/result.csv.enc') });
  const obj = await s3.client.send(new GetObjectCommand({ Bucket: 'inputs', Key: 'results/result.csv.enc' }));
  const plain = await streamToBuffer((obj.Body as Readable).pipe(decryptStream(key)));
  t.equal(plain.toString(), 'bob\n', 'uploaded result decrypts');
  const single = await s3.client.send(new HeadObjectCommand({ Bucket: 'inputs', Key: 'results/result.csv.enc' }));
  t.notMatch(single.ETag ?? '', /-\d+"?$/, 'a small result is one PUT (plain ETag)');

  const big = randomBytes(12 * 1024 * 1024 + 123);
  writeFileSync(join(root, 'big.bin'), big);
  await client.putResultData({ dataKeyB64: key.toString('base64'), sourceConfig: { path: join(root, 'big.bin') }, s3Config: s3cfg('results/big.bin.enc') });
  const bigHead = await s3.client.send(new HeadObjectCommand({ Bucket: 'inputs', Key: 'results/big.bin.enc' }));
  t.match(bigHead.ETag ?? '', /-3"?$/, `a 12 MiB result went up as a 3-part multipart upload (ETag ${bigHead.ETag})`);
  const bigObj = await s3.client.send(new GetObjectCommand({ Bucket: 'inputs', Key: 'results/big.bin.enc' }));
  t.equal(sha(await streamToBuffer((bigObj.Body as Readable).pipe(decryptStream(key)))), sha(big), 'the multipart result decrypts to the source');
  t.same(readdirSync(join(root, 'dl')).filter((f) => f.startsWith('.')), [], 'no staging leftovers');
});
