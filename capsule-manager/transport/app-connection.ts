// An app's attested client of the capsule manager, from its config
// (AppCmConnectionSchema): the signing key and certificate read from their
// files, the CM's expected report, and the app's attester. Used by the data
// capsule proxy and by the control plane's communication groups.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createAttester, type Attester } from '../../platforms/index.ts';
import type { AppCmConnection } from '../config.ts';
import { CapsuleManagerClient } from './client.ts';

export interface AppCmLink {
  client: CapsuleManagerClient;
  attester: Attester;
  /** The app's own party id (of its signing certificate). */
  partyId: string;
  close(): void;
}

export async function connectAppToCm(cm: AppCmConnection): Promise<AppCmLink> {
  const client = new CapsuleManagerClient({
    address: cm.address,
    signer: { privateKey: createPrivateKey(readFileSync(cm.keyFile)), certChainPem: [readFileSync(cm.certFile, 'utf8')] },
    verify: {
      trustedSimKeys: cm.verify.trustedSimKeyFiles.map((f) => readFileSync(f, 'utf8')),
      policy: { allowInsecure: cm.verify.allowInsecure, allowUnknownTcb: cm.verify.allowUnknownTcb, ...(cm.verify.measurements ? { measurements: cm.verify.measurements } : {}) },
    },
  });
  const attester = await createAttester(cm.attester.platform, { allowSim: cm.attester.allowSim, simKeyDir: cm.attester.simKeyDir, simMeasurements: cm.attester.simMeasurements });
  return { client, attester, partyId: client.partyId, close: () => client.close() };
}
