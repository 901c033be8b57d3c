// ra-proxy on a (emulated) TDX guest: the attester goes through configfs-tsm, the
// Trustflow report says TDX, and the client's verification checks the real
// quote signature — which the emulated TDX module cannot produce for new report
// data, so the client must refuse it.
import t from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEphemeralAppIdentity } from '../../platforms/index.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { verifyRaCertResponse } from '../../platforms/catalog/verify-attestation.ts';
import { parseDcapQuote, parseTdxReportBody } from '../../platforms/core/dcap/quote.ts';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { ualToEvidence } from '../../platforms/catalog/ual-report.ts';
import { startRaProxy } from '../../ra-proxy/start.ts';
import { emulateTsm } from '../platforms/configfs-emulator.ts';
import { nowWithin, pemCerts, vector } from '../platforms/vectors.ts';

t.test('ra-proxy with platform auto on an emulated TDX guest', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ra-tdx-'));
  mkdirSync(join(root, 'dev'));
  writeFileSync(join(root, 'dev/tdx_guest'), '');
  const emu = emulateTsm(root, 'tdx_guest', (inblob) => {
    const q = Buffer.from(vector('tdx_v4.dat'));
    inblob.copy(q, 0x238);
    return { outblob: q };
  });
  t.teardown(() => emu.close());
  const identity = await createEphemeralAppIdentity();
  const rp = await startRaProxy({ platform: 'auto', attesterRoot: root, grpc: { enabled: false } }, { identity, logger: silentLogger });
  t.teardown(() => rp.close());
  t.equal(rp.platform, 'tdx');
  t.equal((await fetch(`http://127.0.0.1:${rp.httpPort}/.well-known/sim-key`)).status, 404, 'no sim key on a TEE');
  const res = await fetch(`http://127.0.0.1:${rp.httpPort}/RaProxy/GetRaCert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce: 'n1' }) });
  const body = (await res.json()) as { attestation_report: { str_tee_platform: string } };
  t.equal(body.attestation_report.str_tee_platform, 'TDX');
  const ev = ualToEvidence(body.attestation_report);
  const rd = parseTdxReportBody(parseDcapQuote(ev.quote).body).reportData;
  t.same(rd.subarray(32), Buffer.alloc(32), 'Trustflow binding: SHA-256 in the low 32 bytes');
  const now = nowWithin(pemCerts(parseDcapQuote(ev.quote).cert.pckChainPem));
  await t.rejects(verifyRaCertResponse(body, { nonce: 'n1', policy: {}, verifier: createEvidenceVerifier(), now }), { code: 'SIGNATURE_INVALID' });
});
