// Malformed input never crashes a verifier: every truncation and many random
// byte flips of every real vector end in a PlatformError with a known code
// (or, for flips outside any checked field, in successful verification).
import t from 'tap';
import { AppError } from '../../foundation/errors.ts';
import { createEvidenceVerifier, PlatformError } from '../../platforms/index.ts';
import type { Evidence } from '../../platforms/core/types.ts';
import { pemCerts, vector, vectorText } from './vectors.ts';

// deterministic PRNG so failures reproduce
function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
}

const [ask, ark] = pemCerts(vectorText('milan_chain.pem'));
const tpm = JSON.parse(vector('tpm_evidence.json').toString()) as { ak_public: string; tpm_quote: { message: string; signature: string; pcrs: string[] } };
const CASES: Array<{ name: string; ev: Evidence; now: Date }> = [
  { name: 'tdx_v4', ev: { platform: 'tdx', quote: vector('tdx_v4.dat') }, now: new Date('2025-01-01') },
  { name: 'tdx_v5', ev: { platform: 'tdx', quote: vector('tdx_v5.dat') }, now: new Date('2026-06-01') },
  { name: 'sgx_v3', ev: { platform: 'sgx', quote: vector('sgx_v3.dat') }, now: new Date('2025-01-01') },
  { name: 'snp', ev: { platform: 'sev-snp', quote: vector('snp_report.bin'), aux: { vcek: vector('vcek.der').toString('base64'), ask: ask!.toString(), ark: ark!.toString() } }, now: new Date('2025-01-01') },
  { name: 'csv', ev: { platform: 'csv', quote: vector('csv_report.cert'), aux: { hsk_cek: vector('hsk_cek.cert').toString('base64'), hrk: vector('hrk.cert').toString('base64') } }, now: new Date() },
  { name: 'tpm', ev: { platform: 'tpm', quote: Buffer.from(tpm.tpm_quote.message, 'base64'), aux: { signature: tpm.tpm_quote.signature, pcrs: JSON.stringify(tpm.tpm_quote.pcrs), ak_public: tpm.ak_public } }, now: new Date() },
];

t.test('truncations and random flips end in PlatformError, never a crash', async (t) => {
  const v = createEvidenceVerifier({ tpmTrustedAkPems: [`-----BEGIN PUBLIC KEY-----\n${tpm.ak_public}\n-----END PUBLIC KEY-----\n`] });
  const rand = rng(42);
  const codes = new Set<string>();
  let accepted = 0;
  let rejected = 0;
  for (const c of CASES) {
    t.ok(await v.verify(c.ev, { now: c.now }), `${c.name} verifies untouched`);
    const q = Buffer.from(c.ev.quote);
    const variants: Buffer[] = [];
    for (let i = 0; i < 40; i++) variants.push(q.subarray(0, Math.floor(rand() * q.length)));
    for (let i = 0; i < 120; i++) {
      const m = Buffer.from(q);
      const at = Math.floor(rand() * m.length);
      m[at] = Math.floor(rand() * 256);
      variants.push(m);
    }
    for (const m of variants) {
      try {
        await v.verify({ ...c.ev, quote: m }, { now: c.now });
        accepted++;
      } catch (e) {
        if (!(e instanceof PlatformError)) {
          t.fail(`${c.name}: non-PlatformError ${(e as Error).name}: ${(e as Error).message}`);
          continue;
        }
        t.ok(e instanceof AppError && e.kind !== 'internal');
        codes.add(e.code);
        rejected++;
      }
    }
  }
  t.comment(`rejected ${rejected}, accepted ${accepted} (flips outside signed/checked fields), codes: ${[...codes].join(', ')}`);
  t.ok(rejected > accepted, 'most mutations are rejected');
});
