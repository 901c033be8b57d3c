// The offline TEE task, end to end and in process (Trustflow's "offline"
// scenario with a PSI app):
//
//  1. A capsule manager (CM) runs attested (sim platform here).
//  2. alice and bob verify the CM's report, register their certificates,
//     encrypt their CSVs into `.enc` files with fresh data keys, upload the keys
//     (CreateDataKeys) and grant carol's app op "psi" (policies/rules), with a
//     constraint on the app's measurement.
//  3. carol's app runs in a TEE beside a data capsule proxy. The app asks the
//     proxy for its inputs; the proxy attests to the CM, gets the keys, decrypts.
//     The app computes the intersection and puts the result; the proxy encrypts
//     it with a fresh key and registers it (CreateResultDataKey) with both
//     inputs as ancestors, so the CM derives the result's policy from theirs.
//  4. alice asks for the result's key from her own attested reader: granted
//     only if the lineage-derived policy names her, i.e. only if bob's policy
//     grants alice too (grantees are intersected across ancestors).
//
// Run it: node --import=tsx examples/offline/main.ts
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger, type Logger } from '../../foundation/logger.ts';
import { createAttester } from '../../platforms/index.ts';
import { CapsuleManagerClient } from '../../capsule-manager/index.ts';
import { generatePartyKeys, type PartyKeys } from '../../capsule-manager/index.ts';
import type { Rule } from '../../capsule-manager/index.ts';
import { startCapsuleManager } from '../../capsule-manager/index.ts';
import { createCmClientPort } from '../../data-capsule-proxy/index.ts';
import { decryptFile, encryptFile } from '../../data-capsule-proxy/index.ts';
import { startDataCapsuleProxy } from '../../data-capsule-proxy/index.ts';
import { runPsiApp } from './psi-app.ts';

export const DATA_DIR = fileURLToPath(new URL('./data/', import.meta.url));
/** The measurement of carol's PSI app (sim mr_ta); rules pin it. */
export const PSI_APP_MR = 'c0'.repeat(32);
/** The measurement of alice's reader app. */
export const READER_MR = 'a1'.repeat(32);

export interface ScenarioOutcome {
  /** The intersection carol's app computed (ids). */
  intersection: string[];
  /** A modified app (other measurement, same trusted TEE key) asking for the inputs. */
  tamperedApp: { allowed: boolean; reason?: string };
  /** Round 1 (bob grants only carol): alice's request for the result key. */
  round1: { allowed: boolean; reason?: string };
  /** Round 2 (bob also grants alice): alice's request and what she decrypted. */
  round2: { allowed: boolean; reason?: string; plaintext?: string };
  /** The steps, for humans. */
  transcript: string[];
}

export interface ScenarioOptions {
  /** An empty working directory (CM state, keys, storage, app scratch). */
  workDir: string;
  logger?: Logger;
  /** Called with each step as it happens. */
  onStep?(line: string): void;
}

const PSI_OP = 'psi';
const READ_OP = 'read';

export async function runOfflineScenario(opts: ScenarioOptions): Promise<ScenarioOutcome> {
  const transcript: string[] = [];
  const step = (s: string) => {
    transcript.push(s);
    opts.onStep?.(s);
  };
  const dir = (p: string) => {
    const d = join(opts.workDir, p);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return d;
  };
  const closers: Array<() => unknown> = [];
  try {
    // Attesters: the apps' TEEs (sim with fixed measurements).
    const psiAttester = await createAttester('sim', { simKeyDir: dir('carol-app/sim'), simMeasurements: { mr_ta: PSI_APP_MR } });
    const readerAttester = await createAttester('sim', { simKeyDir: dir('alice-reader/sim'), simMeasurements: { mr_ta: READER_MR } });

    // 1. The capsule manager.
    const cm = await startCapsuleManager(
      {
        grpc: { port: 0 },
        http: { port: 0 },
        identityDir: dir('cm/identity'),
        storage: { kind: 'file', dir: dir('cm/store') },
        kek: { passphrase: 'offline example passphrase', scryptCost: 1024 },
        attestation: {
          self: 'sim',
          simKeyDir: dir('cm/sim'),
          require: true,
          allowInsecure: true,
          trustedSimKeys: [psiAttester.simPublicKeyPem!, readerAttester.simPublicKeyPem!],
        },
        logLevel: 'silent',
      },
      { logger: opts.logger ?? silentLogger },
    );
    closers.push(() => cm.close());
    const address = `127.0.0.1:${cm.grpcPort}`;
    const verify = { trustedSimKeys: [cm.simPublicKeyPem!], policy: { allowInsecure: true } };
    step(`capsule manager up at ${address} (sim-attested)`);

    const [alice, bob, carol, carolApp, aliceReader] = await Promise.all(['alice', 'bob', 'carol', 'carol-psi-app', 'alice-reader'].map((n) => generatePartyKeys(n)));
    const clientFor = (p: PartyKeys) => {
      const c = new CapsuleManagerClient({ address, signer: { privateKey: p.privateKey, certChainPem: [p.certPem] }, verify });
      closers.push(() => c.close());
      return c;
    };
    const A = clientFor(alice!);
    const B = clientFor(bob!);
    const C = clientFor(carol!);

    // 2. Owners: verify the CM, register, encrypt, upload keys, grant.
    for (const [name, c] of [['alice', A], ['bob', B], ['carol', C]] as const) {
      const { claims } = await c.connect();
      await c.registerCert();
      step(`${name} verified the CM report (platform ${claims?.platform}) and registered its certificate (party ${c.partyId.slice(0, 12)}...)`);
    }
    const storage = dir('storage');
    // Fresh 16-byte data keys (AES-128-GCM), standard base64 as Trustflow carries them.
    const keyA = randomBytes(16).toString('base64');
    const keyB = randomBytes(16).toString('base64');
    await encryptFile(join(DATA_DIR, 'alice.csv'), join(storage, 'alice.csv.enc'), Buffer.from(keyA, 'base64'));
    await encryptFile(join(DATA_DIR, 'bob.csv'), join(storage, 'bob.csv.enc'), Buffer.from(keyB, 'base64'));
    await A.createDataKeys([{ resource_uri: 'alice-ids', data_key_b64: keyA }]);
    await B.createDataKeys([{ resource_uri: 'bob-ids', data_key_b64: keyB }]);
    step('alice and bob encrypted their CSVs to .enc files and uploaded the data keys (CreateDataKeys)');

    const psiRule = (id: string, grantees: string[]): Rule => ({
      rule_id: id,
      grantee_party_ids: grantees,
      columns: ['id'],
      op_constraints: [
        { op_name: PSI_OP, constraints: [`r.env.tee.sim.mr_ta == "${PSI_APP_MR}"`] },
        { op_name: READ_OP, constraints: [] },
      ],
      global_constraints: ['r.env.tee.platform == "sim"'],
    });
    // alice lets carol's PSI app compute, and herself read results.
    await A.createDataPolicy({ data_uuid: 'alice-ids', rules: [psiRule('carol-psi', [carol!.partyId, alice!.partyId])] });
    // bob, for now, grants only carol.
    await B.createDataPolicy({ data_uuid: 'bob-ids', rules: [psiRule('carol-psi', [carol!.partyId])] });
    step('alice granted carol (and herself) op "psi"/"read" on alice-ids; bob granted only carol on bob-ids');

    // 3. carol's app and its data capsule proxy, in the TEE.
    const appClient = clientFor(carolApp!);
    await appClient.connect();
    const dcp = await startDataCapsuleProxy(
      { localRoots: [opts.workDir], logLevel: 'silent' },
      {
        logger: opts.logger ?? silentLogger,
        cm: createCmClientPort({ client: appClient, attester: psiAttester, initiatorPartyId: carol!.partyId, endpoints: [address] }),
      },
    );
    closers.push(() => dcp.close());
    step(`data capsule proxy up (gRPC 127.0.0.1:${dcp.grpcPort}), signing as carol's app, evidence from its TEE`);

    const readResult = async (resultUri: string, encPath: string): Promise<{ allowed: boolean; reason?: string; plaintext?: string }> => {
      const reader = clientFor(aliceReader!);
      try {
        const keys = await reader.getDataKeys(
          { initiator_party_id: alice!.partyId, scope: '', op_name: READ_OP, resources: [{ resource_uri: resultUri, columns: [], attrs: '' }], env: '', global_attrs: '' },
          readerAttester,
        );
        const out = join(dir('alice-reader/out'), `${resultUri}.csv`);
        await decryptFile(encPath, out, Buffer.from(keys[0]!.data_key_b64, 'base64'));
        return { allowed: true, plaintext: readFileSync(out, 'utf8') };
      } catch (e) {
        return { allowed: false, reason: (e as Error).message };
      }
    };

    const runApp = (round: number) =>
      runPsiApp({
        proxyAddress: `127.0.0.1:${dcp.grpcPort}`,
        workDir: dir(`carol-app/work-${round}`),
        inputs: [
          { resourceUri: 'alice-ids', encPath: join(storage, 'alice.csv.enc') },
          { resourceUri: 'bob-ids', encPath: join(storage, 'bob.csv.enc') },
        ],
        resultPath: join(storage, `psi-result-${round}.csv.enc`),
        resultUri: `psi-result-${round}`,
      });

    // A modified build of the app (different measurement) gets nothing.
    const rogueAttester = await createAttester('sim', { simKeyDir: join(opts.workDir, 'carol-app/sim'), simMeasurements: { mr_ta: 'ee'.repeat(32) } });
    const rogueDcp = await startDataCapsuleProxy(
      { localRoots: [opts.workDir], logLevel: 'silent' },
      { logger: opts.logger ?? silentLogger, cm: createCmClientPort({ client: appClient, attester: rogueAttester, initiatorPartyId: carol!.partyId }) },
    );
    const tamperedApp = await runPsiApp({
      proxyAddress: `127.0.0.1:${rogueDcp.grpcPort}`,
      workDir: dir('carol-app/work-rogue'),
      inputs: [
        { resourceUri: 'alice-ids', encPath: join(storage, 'alice.csv.enc') },
        { resourceUri: 'bob-ids', encPath: join(storage, 'bob.csv.enc') },
      ],
      resultPath: join(storage, 'rogue.csv.enc'),
      resultUri: 'rogue-result',
    }).then(
      (): { allowed: boolean; reason?: string } => ({ allowed: true }),
      (e: Error) => ({ allowed: false, reason: e.message }),
    );
    await rogueDcp.close();
    step(`a modified app (mr_ta ee..) asks for the inputs -> ${tamperedApp.allowed ? 'granted' : `denied (${tamperedApp.reason})`}`);

    const r1 = await runApp(1);
    step(`round 1: carol's app computed the intersection (${r1.intersection.length} ids) and put psi-result-1 (ancestors alice-ids, bob-ids)`);
    const round1 = await readResult('psi-result-1', join(storage, 'psi-result-1.csv.enc'));
    step(`round 1: alice asks for psi-result-1 -> ${round1.allowed ? 'granted' : `denied (${round1.reason})`}`);

    // 4. bob now also grants alice; a new result derives a policy that names her.
    await B.addDataRule('bob-ids', psiRule('alice-reads', [alice!.partyId]));
    step('bob added a rule granting alice on bob-ids');
    const r2 = await runApp(2);
    step(`round 2: carol's app put psi-result-2`);
    const round2 = await readResult('psi-result-2', join(storage, 'psi-result-2.csv.enc'));
    step(`round 2: alice asks for psi-result-2 -> ${round2.allowed ? 'granted' : `denied (${round2.reason})`}`);
    if (round2.plaintext !== undefined) step(`alice decrypted the result: ${round2.plaintext.trim().split('\n').slice(1).join(', ')}`);
    return { intersection: r2.intersection, tamperedApp, round1, round2, transcript };
  } finally {
    for (const c of closers.reverse()) await c();
  }
}
