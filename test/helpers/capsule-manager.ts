// Test glue for the capsule manager: a CM on 127.0.0.1:0 with the real sim
// platform (its own attester and a trusted app attester), closed after the test.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { createAttester } from '../../platforms/index.ts';
import type { Attester } from '../../platforms/core/types.ts';
import { startCapsuleManager, type RunningCapsuleManager } from '../../capsule-manager/start.ts';
import { CapsuleManagerClient } from '../../capsule-manager/transport/client.ts';
import type { PartyKeys } from '../../capsule-manager/core/party-keys.ts';

export const APP_MR = 'a1'.repeat(32);

export interface CmFixture {
  cm: RunningCapsuleManager;
  /** An app attester the CM trusts (sim, measurement mr_ta = APP_MR). */
  appAttester: Attester & { simPublicKeyPem?: string };
  dir: string;
  /** what a client passes to verify the CM */
  verify: { trustedSimKeys: string[]; policy: { allowInsecure: true } };
  /** A gRPC client of this CM signing as `party`, closed with the fixture. */
  client(party: PartyKeys): CapsuleManagerClient;
}

export async function startTestCapsuleManager(t: Test, over: { storage?: Record<string, unknown>; dir?: string; audit?: boolean; http?: Record<string, unknown>; kek?: Record<string, unknown>; auditReplica?: string; sessions?: Record<string, unknown>; grpcPort?: number } = {}): Promise<CmFixture> {
  const dir = over.dir ?? mkdtempSync(join(tmpdir(), 'cm-test-'));
  const appAttester = await createAttester('sim', { simKeyDir: join(dir, 'app-sim'), simMeasurements: { mr_ta: APP_MR } });
  const cm = await startCapsuleManager(
    {
      grpc: { port: over.grpcPort ?? 0 },
      http: { port: 0, ...over.http },
      identityDir: join(dir, 'identity'),
      storage: over.storage ?? { kind: 'file', dir: join(dir, 'store') },
      kek: over.kek ?? { passphrase: 'test passphrase 123', scryptCost: 1024 },
      attestation: { self: 'sim', simKeyDir: join(dir, 'cm-sim'), require: true, allowInsecure: true, trustedSimKeys: [appAttester.simPublicKeyPem!] },
      audit: { ...(over.audit === false ? {} : { path: join(dir, 'audit.log') }), ...(over.auditReplica ? { replica: over.auditReplica } : {}) },
      ...(over.sessions ? { sessions: over.sessions } : {}),
      logLevel: 'silent',
    },
  );
  t.teardown(() => cm.close());
  const verify = { trustedSimKeys: [cm.simPublicKeyPem!], policy: { allowInsecure: true as const } };
  const client = (party: PartyKeys): CapsuleManagerClient => {
    const c = new CapsuleManagerClient({ address: `127.0.0.1:${cm.grpcPort}`, signer: { privateKey: party.privateKey, certChainPem: [party.certPem] }, verify });
    t.teardown(() => c.close());
    return c;
  };
  return { cm, appAttester, dir, verify, client };
}
