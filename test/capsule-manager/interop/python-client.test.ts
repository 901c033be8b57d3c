// Wire compatibility: an independent Python client (jwcrypto/cryptography)
// builds Trustflow's JWE(JWS x5c) envelope and party id from the wire
// description and talks to the HTTP API; the CM agrees on party ids, accepts
// its envelopes and its responses decrypt on the Python side.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { pythonBin } from '../../../dev/toolchain.ts';
import { startTestCapsuleManager } from '../../helpers/capsule-manager.ts';

const f = await startTestCapsuleManager(t, { audit: false });

t.test('jwcrypto client: register, policy, list, owner check', async (t) => {
  const { stdout } = await promisify(execFile)(pythonBin(), [join(import.meta.dirname, 'trustflow_client.py'), `http://127.0.0.1:${f.cm.httpPort}`], { encoding: 'utf8', timeout: 60_000 });
  const r = JSON.parse(stdout) as Record<string, [number, Record<string, unknown>]> & { party_id: string; ra_platform: string };
  t.equal(r.ra_platform, 'SIM');
  t.equal(r.register[0], 200);
  t.equal(r.create_policy[0], 200);
  t.equal(r.list[0], 200);
  t.match(r.list[1], { policies: [{ data_uuid: 'py-data', rules: [{ rule_id: 'r', grantee_party_ids: [r.party_id] }] }] }, 'party id computed in Python matches the CM (the policy was accepted for it)');
  t.equal(r.not_owner[0], 403);
  t.match(r.not_owner[1], { code: 'NOT_OWNER' });
});
