// The offline scenario end to end, in process, against a real capsule manager
// (startCapsuleManager, sim platform) and the real data capsule proxy over gRPC.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATA_DIR, runOfflineScenario } from '../../examples/offline/scenario.ts';
import { intersectCsv } from '../../examples/offline/psi.ts';

t.test('alice and bob grant carol, carol\'s app computes the PSI, alice reads the result only when lineage allows', async (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'dcp-offline-'));
  const out = await runOfflineScenario({ workDir });
  const expected = intersectCsv(readFileSync(join(DATA_DIR, 'alice.csv'), 'utf8'), readFileSync(join(DATA_DIR, 'bob.csv'), 'utf8'));
  t.same(out.intersection, ['u002', 'u003', 'u008', 'u021'], 'the intersection of the two CSVs');
  t.equal(out.tamperedApp.allowed, false, 'a modified app build is refused the inputs');
  t.match(out.tamperedApp.reason, /CM_FAILED.*mr_ta/, 'the refusal names the failed measurement constraint');
  t.notOk(readdirSync(join(workDir, 'carol-app', 'work-rogue')).some((d) => readdirSync(join(workDir, 'carol-app', 'work-rogue', d)).length > 0), 'no plaintext reached the modified app');
  t.equal(out.round1.allowed, false, 'round 1: bob did not grant alice, so the derived policy does not name her');
  t.match(out.round1.reason, /not a grantee|POLICY_DENIED|denied/i, 'the denial says why');
  t.equal(out.round2.allowed, true, 'round 2: both ancestors grant alice');
  t.equal(out.round2.plaintext, expected, 'alice decrypts exactly the PSI result');
  // The result at rest is ciphertext only; plaintext never sits in shared storage.
  const storage = readdirSync(join(workDir, 'storage')).sort();
  t.same(storage, ['alice.csv.enc', 'bob.csv.enc', 'psi-result-1.csv.enc', 'psi-result-2.csv.enc']);
  t.notMatch(readFileSync(join(workDir, 'storage', 'psi-result-2.csv.enc')).toString('latin1'), /u002/, 'stored result is encrypted');
  t.ok(out.transcript.length >= 10, 'every step is reported');
});
