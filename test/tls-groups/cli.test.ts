import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../tls-groups/cli.ts';
import { issueGroupTlsAsset, deriveGroupCa } from '../../tls-groups/index.ts';
import { DATA_KEY, SIM_CLAIMS, EVIDENCE_DIGEST, p256 } from './fixtures.ts';
import { captureOutput } from '../helpers/capture-output.ts';

t.test('groups inspect prints the identity and checks the CA signature', async (t) => {
  const a = await issueGroupTlsAsset({ dataKey: DATA_KEY, scope: 'default', dataUuid: 'd', partyId: 'bob', subjectPublicKeyPem: p256().publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST });
  const other = await deriveGroupCa({ dataKey: DATA_KEY, scope: 'default', dataUuid: 'e' });
  const dir = mkdtempSync(join(tmpdir(), 'groups-cli-'));
  writeFileSync(join(dir, 'leaf.pem'), a.leafCertPem);
  writeFileSync(join(dir, 'ca.pem'), a.caCertPem);
  writeFileSync(join(dir, 'other.pem'), other.caCertPem);
  const first = await captureOutput(() => main(['inspect', join(dir, 'leaf.pem'), '--ca', join(dir, 'ca.pem')]));
  const rest = await captureOutput(async () => [
    await main(['inspect', join(dir, 'leaf.pem'), '--ca', join(dir, 'other.pem')]),
    await main(['nope']),
    await main(['--help']),
    await main(['inspect', join(dir, 'missing.pem')]),
  ]);
  t.same([first.value, ...rest.value], [0, 1, 2, 0, 1]);
  const j = JSON.parse(first.out);
  t.same([j.groupId, j.partyId, j.claims.platform, j.evidence.sha256, j.signatureValid], [a.groupId, 'bob', 'sim', EVIDENCE_DIGEST.toString('hex'), true]);
});
