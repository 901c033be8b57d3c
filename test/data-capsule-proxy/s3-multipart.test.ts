// S3Store's multipart path against moto_server: part sizing within S3's limits,
// and a body that fails mid-upload leaves no object and no open upload.
import t from 'tap';
import { Readable } from 'node:stream';
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { partSizeFor, S3Store } from '../../data-capsule-proxy/storage/s3-store.ts';
import { startS3Server } from '../helpers/data-capsule-proxy.ts';

const MIB = 1024 * 1024;

t.test('part size stays within S3 limits', async (t) => {
  t.equal(partSizeFor(12 * MIB, 5 * MIB), 5 * MIB);
  t.equal(partSizeFor(12 * MIB, 1 * MIB), 5 * MIB, 'never below 5 MiB');
  const huge = 200 * 1024 * MIB; // 200 GiB
  t.ok(Math.ceil(huge / partSizeFor(huge)) <= 10_000, '200 GiB fits in 10,000 parts');
  t.equal(partSizeFor(huge), Math.ceil(huge / 10_000));
});

t.test('a body failing mid-upload: the multipart upload is aborted, no object appears', async (t) => {
  const s3 = await startS3Server(t);
  await s3.createBucket('out');
  const store = new S3Store({ endpoint: s3.endpoint, bucket: 'out', accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, multipartThresholdBytes: 5 * MIB, partSizeBytes: 5 * MIB });
  t.teardown(() => store.close());

  let sent = 0;
  const failing = new Readable({
    read() {
      if (sent >= 11 * MIB) return this.destroy(new Error('source read failed'));
      sent += MIB;
      this.push(Buffer.alloc(MIB, 7));
    },
  });
  await t.rejects(store.write('broken.enc', failing, 20 * MIB), { code: 'STORAGE_FAILED' }, 'the write fails with STORAGE_FAILED');
  t.ok(sent > 5 * MIB, `parts were under way when it failed (${sent / MIB} MiB read)`);
  const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: 'out' }));
  t.same(uploads.Uploads ?? [], [], 'no multipart upload left open (aborted)');
  await t.rejects(s3.client.send(new HeadObjectCommand({ Bucket: 'out', Key: 'broken.enc' })), { name: 'NotFound' }, 'no object');

  const ok = Readable.from((function* () {
    for (let i = 0; i < 11; i++) yield Buffer.alloc(MIB, i);
  })());
  await store.write('whole.enc', ok, 11 * MIB);
  const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'out', Key: 'whole.enc' }));
  t.equal(head.ContentLength, 11 * MIB, 'a whole multipart object');
  t.match(head.ETag ?? '', /-3"?$/, 'in three parts');
});
