// S3 fault fixtures: a moto_server (project venv) on a fixed loopback port that
// can be killed with SIGKILL and started again on the same port (moto keeps
// its state in memory only, so a restarted one is empty), and a gRPC client of
// the data capsule proxy that reports failures with their x-error-code.
import * as grpc from '@grpc/grpc-js';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Test } from 'tap';
import { Supervised } from '../../dev/child-process.ts';
import { freePort } from '../../dev/free-port.ts';
import {
  DataCapsuleProxyService,
  GetInputDataRequest,
  PutResultDataRequest,
  type GetInputDataResponse,
  type PutResultDataResponse,
} from '../../proto/gen/secretflowapis/v2/sdc/data_capsule_proxy/data_capsule_proxy.ts';
import { motoServerBin } from './data-capsule-proxy.ts';

export interface KillableS3 {
  port: number;
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A client talking to moto directly (not through any relay). */
  client: S3Client;
  readonly running: boolean;
  createBucket(name: string): Promise<void>;
  /** kill -9; resolves once the process is gone. */
  kill(): Promise<void>;
  /** A new, empty moto_server on the same port. */
  restart(): Promise<void>;
}

async function launch(port: number): Promise<Supervised> {
  const proc = new Supervised({ name: 'moto_server', bin: motoServerBin(), args: ['-H', '127.0.0.1', '-p', String(port)] });
  try {
    await proc.waitFor(async () => (await fetch(`http://127.0.0.1:${port}/moto-api/`)).ok, 'listening', 30_000);
  } catch (e) {
    await proc.kill();
    throw e;
  }
  return proc;
}

export async function startKillableS3(t: Test): Promise<KillableS3> {
  const port = await freePort();
  let proc = await launch(port);
  const creds = { accessKeyId: 'test-access-key', secretAccessKey: 'test-secret-key' };
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: creds, requestChecksumCalculation: 'WHEN_REQUIRED' });
  t.teardown(async () => {
    client.destroy();
    await proc.stop();
  });
  return {
    port,
    endpoint,
    ...creds,
    client,
    get running() {
      return proc.running;
    },
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    kill: () => proc.kill(),
    async restart() {
      if (proc.running) throw new Error('moto_server is still running');
      proc = await launch(port);
    },
  };
}

export interface DcpCallError {
  grpcCode: number;
  /** The component's error code (x-error-code metadata). */
  code: string;
  message: string;
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void;

/** The data capsule proxy over gRPC; a failure rejects with a DcpCallError. */
export function dcpGrpcClient(t: Test, port: number) {
  const Ctor = grpc.makeGenericClientConstructor(DataCapsuleProxyService, 'DataCapsuleProxy');
  const c = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
    getInputData: Unary<GetInputDataRequest, GetInputDataResponse>;
    putResultData: Unary<PutResultDataRequest, PutResultDataResponse>;
    close(): void;
  };
  t.teardown(() => c.close());
  const call = <Req, Res>(f: Unary<Req, Res>, req: Req, timeoutMs: number) =>
    new Promise<Res>((resolve, reject) =>
      f.call(c, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) =>
        e ? reject({ grpcCode: e.code, code: String(e.metadata?.get('x-error-code')[0] ?? ''), message: e.details } satisfies DcpCallError) : resolve(r),
      ),
    );
  return {
    getInputData: (req: Partial<GetInputDataRequest>, timeoutMs = 60_000) => call(c.getInputData, GetInputDataRequest.fromPartial(req), timeoutMs),
    putResultData: (req: Partial<PutResultDataRequest>, timeoutMs = 60_000) => call(c.putResultData, PutResultDataRequest.fromPartial(req), timeoutMs),
  };
}
