// Carol's confidential app (offline TEE task): asks the data capsule proxy
// beside it for the decrypted inputs (the proxy gets the keys from the capsule
// manager with the app's attestation), computes the intersection and hands the
// result back to the proxy, which encrypts it with a fresh key and registers
// that key with the inputs as ancestors. The app never sees a data key.
import * as grpc from '@grpc/grpc-js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DataCapsuleProxyService,
  GetInputDataRequest,
  PutResultDataRequest,
  type GetInputDataResponse,
  type PutResultDataResponse,
} from '../../proto/gen/secretflowapis/v2/sdc/data_capsule_proxy/data_capsule_proxy.ts';
import { intersectCsv } from './psi.ts';

export interface PsiInput {
  /** resource_uri (= data_uuid here) the CM knows the key under */
  resourceUri: string;
  /** where the `.enc` file lies (a path the proxy may read) */
  encPath: string;
}

export interface PsiTask {
  /** host:port of the data capsule proxy's gRPC endpoint */
  proxyAddress: string;
  /** the app's private scratch directory (plaintext lives only here) */
  workDir: string;
  inputs: [PsiInput, PsiInput];
  /** where the encrypted result goes and under which resource_uri it is registered */
  resultPath: string;
  resultUri: string;
  scope?: string;
  opName?: string;
}

type Unary<Req, Res> = (req: Req, cb: (e: grpc.ServiceError | null, r: Res) => void) => void;

export async function runPsiApp(task: PsiTask): Promise<{ intersection: string[] }> {
  const Ctor = grpc.makeGenericClientConstructor(DataCapsuleProxyService, 'DataCapsuleProxy');
  const client = new Ctor(task.proxyAddress, grpc.credentials.createInsecure()) as unknown as {
    getInputData: Unary<GetInputDataRequest, GetInputDataResponse>;
    putResultData: Unary<PutResultDataRequest, PutResultDataResponse>;
    close(): void;
  };
  const call = <Req, Res>(f: Unary<Req, Res>, req: Req) => new Promise<Res>((resolve, reject) => f.call(client, req, (e, r) => (e ? reject(e) : resolve(r))));
  try {
    const plain: string[] = [];
    for (const [i, input] of task.inputs.entries()) {
      const dest = join(task.workDir, `input-${i}`);
      await call(
        client.getInputData,
        GetInputDataRequest.fromPartial({
          cmResourceConfig: { scope: task.scope ?? '', opName: task.opName ?? 'psi', resourceUri: input.resourceUri, columns: ['id'] },
          localFsConfig: { path: input.encPath },
          destConfig: { path: dest },
        }),
      );
      const name = input.encPath.split('/').pop()!.replace(/\.enc$/, '');
      plain.push(readFileSync(join(dest, name), 'utf8'));
    }
    const result = intersectCsv(plain[0]!, plain[1]!);
    const resultFile = join(task.workDir, 'psi-result.csv');
    writeFileSync(resultFile, result, { mode: 0o600 });
    await call(
      client.putResultData,
      PutResultDataRequest.fromPartial({
        sourceConfig: { path: resultFile },
        localFsConfig: { path: task.resultPath },
        cmResultConfig: { scope: task.scope ?? '', resourceUri: task.resultUri, ancestorUuids: task.inputs.map((x) => x.resourceUri.split('/')[0]!) },
      }),
    );
    return { intersection: result.trim().split('\n').slice(1) };
  } finally {
    client.close();
  }
}
