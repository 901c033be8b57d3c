// Fault: the S3 server (moto_server, its own process) killed with SIGKILL in
// the middle of a data capsule proxy transfer: a multipart PutResultData of a
// 30 MiB result, and a GetInputData of two inputs (1 MiB, then 24 MiB). The
// proxy (gRPC) reaches moto through a transparent TCP relay that counts the
// bytes, so the kill lands at a known point of the transfer, and that shows the
// S3 requests the proxy made. Bounded: one transfer at a time, seconds each.
//
// What must hold:
// - the call fails promptly with the proxy's own error code (STORAGE_FAILED,
//   gRPC UNAVAILABLE), not a hang or an INTERNAL error;
// - download: nothing is left in the destination: not the first input, which
//   was completely decrypted into the staging directory before the kill, not
//   the partial second one, no staging directory, no temp file;
// - upload: no object can exist. moto keeps uploads in memory, so a killed
//   moto cannot be asked whether the upload is still open, and a restarted one
//   is empty by construction (asserting "no object" there could not fail).
//   What is provable is on the wire: CompleteMultipartUpload was never sent for
//   this upload (S3 only creates a multipart object on Complete), no plain PUT
//   of the key either, and once the parts failed the proxy sent
//   AbortMultipartUpload for exactly this upload id (the dead server could not
//   act on it; on AWS a bucket lifecycle rule reclaims such parts). That an
//   abort reaching a live server leaves no upload and no object is proven
//   against moto by test/data-capsule-proxy/s3-multipart.test.ts;
// - after moto is back (same port) the same proxy serves the same request.
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { silentLogger } from '../../foundation/logger.ts';
import { startDataCapsuleProxy } from '../../data-capsule-proxy/start.ts';
import { decryptStream, encryptFile } from '../../data-capsule-proxy/core/enc-format.ts';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.ts';
import { dcpGrpcClient, startKillableS3, type DcpCallError, type KillableS3 } from '../helpers/s3-faults.ts';

const MIB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function streamBytes(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Proxy, moto and the relay between them; the proxy only knows the relay's endpoint. */
async function fixture(t: Test) {
  const root = mkdtempSync(join(tmpdir(), 'fault-s3-'));
  const s3 = await startKillableS3(t);
  const relay = await startTcpRelay(t, s3.port);
  const endpoint = `http://127.0.0.1:${relay.port}`;
  const dcp = await startDataCapsuleProxy({ localRoots: [root], logLevel: 'silent', s3: { allowedEndpoints: [endpoint], multipartThresholdMiB: 5, partSizeMiB: 5 } }, { logger: silentLogger });
  t.teardown(() => dcp.close());
  const client = dcpGrpcClient(t, dcp.grpcPort!);
  const s3cfg = (bucket: string, path: string) => ({ endpoint, bucket, path, accessKeyId: s3.accessKeyId, accessKeySecret: s3.secretAccessKey, stsToken: '' });
  return { root, s3, relay, client, s3cfg };
}

/** Kills moto (SIGKILL, sent synchronously) the first time `when` holds after a chunk passed the relay. */
function killWhen(relay: TcpRelay, s3: KillableS3, when: () => boolean): { readonly at: number; settled(): Promise<void> } {
  let at = 0;
  let exited: Promise<void> = Promise.resolve();
  relay.onProgress(() => {
    if (at || !when()) return;
    at = Date.now();
    exited = s3.kill();
  });
  return {
    get at() {
      return at;
    },
    settled: () => exited,
  };
}

/** The path of a request line without its query. */
const pathOf = (p: string) => p.split('?')[0];
const query = (p: string) => new URLSearchParams(p.split('?')[1] ?? '');

t.test('moto killed mid multipart upload: STORAGE_FAILED, never completed, aborted, works again after restart', async (t) => {
  const { root, s3, relay, client, s3cfg } = await fixture(t);
  await s3.createBucket('results');
  const result = randomBytes(30 * MIB);
  writeFileSync(join(root, 'result.bin'), result);
  const key = randomBytes(32).toString('base64');
  const req = { dataKeyB64: key, sourceConfig: { path: join(root, 'result.bin') }, s3Config: s3cfg('results', 'out/result.bin.enc') };

  // Kill once 12 MiB went up: two 5 MiB parts through, the third on its way.
  const kill = killWhen(relay, s3, () => relay.upBytes >= 12 * MIB);
  const t0 = Date.now();
  const err = await client.putResultData(req, 30_000).then(() => undefined, (e: DcpCallError) => e);
  await kill.settled();
  t.ok(kill.at > 0, `moto was killed ${kill.at - t0} ms into the upload`);
  t.match(err, { code: 'STORAGE_FAILED', grpcCode: 14 }, 'the proxy answers STORAGE_FAILED (gRPC UNAVAILABLE)');
  t.match(err?.message ?? '', /s3 multipart put out\/result\.bin\.enc/, `and says what failed: ${err?.message}`);
  t.ok(Date.now() - kill.at < 20_000, `promptly (${Date.now() - kill.at} ms after the kill)`);

  const obj = '/results/out/result.bin.enc';
  const before = relay.requests.filter((r) => r.at <= kill.at);
  const after = relay.requests.filter((r) => r.at > kill.at);
  t.ok(before.some((r) => r.method === 'POST' && pathOf(r.path) === obj && query(r.path).has('uploads')), 'CreateMultipartUpload went out before the kill');
  const uploadIds = new Set(before.filter((r) => r.method === 'PUT' && pathOf(r.path) === obj).map((r) => query(r.path).get('uploadId')));
  t.equal(uploadIds.size, 1, 'parts of one upload went out');
  const uploadId = [...uploadIds][0]!;
  const partsBefore = before.filter((r) => r.method === 'PUT' && query(r.path).has('partNumber')).length;
  t.ok(partsBefore >= 3, `the kill came mid-upload (${partsBefore} UploadPart requests started before it)`);
  const all = relay.requests.filter((r) => pathOf(r.path) === obj);
  t.same(all.filter((r) => r.method === 'POST' && query(r.path).has('uploadId')), [], 'CompleteMultipartUpload was never sent (no object can exist)');
  t.same(all.filter((r) => r.method === 'PUT' && !query(r.path).has('partNumber')), [], 'no single PUT of the key either');
  const aborts = after.filter((r) => r.method === 'DELETE' && pathOf(r.path) === obj && query(r.path).get('uploadId') === uploadId);
  t.ok(aborts.length >= 1, `AbortMultipartUpload for upload ${uploadId.slice(0, 12)}... was sent after the failure`);

  // moto back on the same port (empty): the same request succeeds and the object decrypts.
  await s3.restart();
  await s3.createBucket('results');
  await client.putResultData(req);
  const got = await s3.client.send(new GetObjectCommand({ Bucket: 'results', Key: 'out/result.bin.enc' }));
  t.equal(sha(await streamBytes((got.Body as Readable).pipe(decryptStream(Buffer.from(key, 'base64'))))), sha(result), 'after the restart the result goes up whole and decrypts');
  t.ok(relay.requests.some((r) => r.method === 'POST' && pathOf(r.path) === obj && query(r.path).has('uploadId')), 'as a completed multipart upload');
});

t.test('moto killed mid download: STORAGE_FAILED, nothing left in the destination, works again after restart', async (t) => {
  const { root, s3, relay, client, s3cfg } = await fixture(t);
  const key = randomBytes(32);
  const inputs = { 'a.csv': randomBytes(1 * MIB), 'b.csv': randomBytes(24 * MIB) };
  mkdirSync(join(root, 'plain'));
  const encrypted: Record<string, Buffer> = {};
  for (const [name, data] of Object.entries(inputs)) {
    writeFileSync(join(root, 'plain', name), data);
    await encryptFile(join(root, 'plain', name), join(root, 'plain', `${name}.enc`), key);
    encrypted[name] = readFileSync(join(root, 'plain', `${name}.enc`));
  }
  const upload = async () => {
    await s3.createBucket('inputs');
    for (const [name, body] of Object.entries(encrypted)) await s3.client.send(new PutObjectCommand({ Bucket: 'inputs', Key: `task/${name}.enc`, Body: body }));
  };
  await upload();
  const dest = join(root, 'dl');
  const req = { dataKeyB64: key.toString('base64'), s3Config: s3cfg('inputs', 'task'), destConfig: { path: dest } };

  // Kill once 6 MiB of b.csv.enc came down (a.csv.enc, listed first, is complete by then).
  let bStart = -1;
  const kill = killWhen(relay, s3, () => {
    if (bStart < 0 && relay.requests.some((r) => r.method === 'GET' && pathOf(r.path) === '/inputs/task/b.csv.enc')) bStart = relay.downBytes;
    return bStart >= 0 && relay.downBytes - bStart >= 6 * MIB;
  });
  const err = await client.getInputData(req, 30_000).then(() => undefined, (e: DcpCallError) => e);
  await kill.settled();
  t.ok(kill.at > 0, 'moto was killed during the download');
  t.ok(relay.requests.some((r) => r.method === 'GET' && pathOf(r.path) === '/inputs/task/a.csv.enc' && r.at < kill.at), 'the first input was fetched before the kill');
  t.match(err, { code: 'STORAGE_FAILED', grpcCode: 14 }, `the proxy answers STORAGE_FAILED (gRPC UNAVAILABLE): ${err?.code} ${err?.message}`);
  t.ok(Date.now() - kill.at < 20_000, `promptly (${Date.now() - kill.at} ms after the kill)`);
  const left = existsSync(dest) ? (readdirSync(dest, { recursive: true }) as string[]) : [];
  t.same(left, [], 'nothing in the destination: no decrypted input, no partial file, no staging directory');

  await s3.restart();
  await upload();
  await client.getInputData(req);
  t.same((readdirSync(dest) as string[]).sort(), ['a.csv', 'b.csv'], 'after the restart both inputs are decrypted');
  for (const [name, data] of Object.entries(inputs)) t.equal(sha(readFileSync(join(dest, name))), sha(data), `${name} matches`);
});
