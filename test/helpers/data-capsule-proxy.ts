// tap glue for the data capsule proxy's tests: a real S3-compatible server
// (moto_server from the project venv) on loopback, always stopped after the test.
import type { Test } from 'tap';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Supervised } from '../../dev/child-process.ts';
import { freePort } from '../../dev/free-port.ts';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';

export interface S3Server {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export function motoServerBin(): string {
  return process.env.MOTO_SERVER_BIN ?? join(PROJECT_ROOT, '.venv/bin/moto_server');
}

export async function startS3Server(t: Test): Promise<S3Server> {
  const port = await freePort();
  const proc = new Supervised({ name: 'moto_server', bin: motoServerBin(), args: ['-H', '127.0.0.1', '-p', String(port)] });
  const endpoint = `http://127.0.0.1:${port}`;
  await proc.waitFor(async () => (await fetch(`${endpoint}/moto-api/`)).ok, 'listening', 30_000);
  const creds = { accessKeyId: 'test-access-key', secretAccessKey: 'test-secret-key' };
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: creds, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const server: S3Server = {
    endpoint,
    ...creds,
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      client.destroy();
      await proc.stop();
    },
  };
  t.teardown(() => server.stop());
  return server;
}
