// Fuzzing every platform's evidence parser and verifier with random bytes and
// with edits (bit flips, byte sets, truncation, extension, deletion,
// duplication) of the real vectors in test/fixtures/attestation, and of their
// aux material (VCEK/ASK/ARK, Hygon certificates, TPM signature and PCRs).
// Properties:
//   - parse and verify end in a result or a PlatformError, never another exception;
//   - a mutated vector that still verifies yields exactly the original claims: no
//     byte outside the signatures' reach can change what a verifier reports (but
//     the trailing-bytes check, which reports bytes appended after the structure);
//   - an edit inside the bytes a verifier authenticates (signed region, signature,
//     signed QE report and key) is rejected with a PlatformError.
// The formats have bytes no signature covers (reserved fields, DCAP padding and
// text around the PEM chain, which real vectors carry), hence the second property.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { createAttester, createEvidenceVerifier, decodeEvidence, encodeEvidence, PlatformError } from '../../platforms/index.ts';
import type { Claims, Evidence, PlatformName } from '../../platforms/core/types.ts';
import { evidenceToUal, ualToEvidence } from '../../platforms/catalog/ual-report.ts';
import { parseDcapQuote } from '../../platforms/core/dcap/quote.ts';
import { buildCertTable, parseCertTable } from '../../platforms/plugins/sev-snp/cert-table.ts';
import { parsePcrValues } from '../../platforms/plugins/tpm/verifier.ts';
import { parseTpmtSignature } from '../../platforms/plugins/tpm/attest.ts';
import { parseCaCert, parseCsvCert } from '../../platforms/plugins/csv/certs.ts';
import { pemCerts, vector, vectorText } from '../platforms/vectors.ts';
import { checkProperty, expectTyped, fc } from './fuzz-config.ts';
import { applyEdits, applyPemEdits, applyTextEdits, byteEdits, hostileJson, unchanged, type ByteEdit } from './mutations.ts';

const [ask, ark] = pemCerts(vectorText('milan_chain.pem'));
const tpm = JSON.parse(vector('tpm_evidence.json').toString()) as { ak_public: string; tpm_quote: { message: string; signature: string; pcrs: string[] } };
const sim = await createAttester('sim', { simMeasurements: { mr_ta: 'ab'.repeat(32), mr_boot: 'cd'.repeat(16) } });
const verifier = createEvidenceVerifier({ trustedSimKeys: [sim.simPublicKeyPem!], tpmTrustedAkPems: [`-----BEGIN PUBLIC KEY-----\n${tpm.ak_public}\n-----END PUBLIC KEY-----\n`] });

interface Case {
  name: string;
  ev: Evidence;
  now: Date;
  /** [start, end) byte ranges of the quote that the verifier authenticates. */
  authenticated: Array<[number, number]>;
}

/** Where the parsed DCAP fields sit in the quote (they are views of its buffer). */
function dcapRanges(quote: Uint8Array): Array<[number, number]> {
  const q = parseDcapQuote(quote);
  const at = (b: Buffer): [number, number] => [b.byteOffset - quote.byteOffset, b.byteOffset - quote.byteOffset + b.length];
  return [at(q.signed), at(q.signature), at(q.attestKey), at(q.cert.qeReport), at(q.cert.qeReportSignature), at(q.cert.qeAuthData)];
}

const u8 = (b: Buffer) => new Uint8Array(b);
const simEv = await sim.getEvidence(Buffer.alloc(64, 5));
const CASES: Case[] = [
  { name: 'sim', ev: simEv, now: new Date(), authenticated: [[0, simEv.quote.length]] },
  { name: 'tdx_v4', ev: { platform: 'tdx', quote: u8(vector('tdx_v4.dat')) }, now: new Date('2025-01-01'), authenticated: dcapRanges(u8(vector('tdx_v4.dat'))) },
  { name: 'tdx_v5', ev: { platform: 'tdx', quote: u8(vector('tdx_v5.dat')) }, now: new Date('2026-06-01'), authenticated: dcapRanges(u8(vector('tdx_v5.dat'))) },
  { name: 'sgx_v3', ev: { platform: 'sgx', quote: u8(vector('sgx_v3.dat')) }, now: new Date('2025-01-01'), authenticated: dcapRanges(u8(vector('sgx_v3.dat'))) },
  // SNP: the signed report [0, 0x2A0) and r, s with their zero high bytes [0x2A0, 0x330).
  { name: 'snp', ev: { platform: 'sev-snp', quote: u8(vector('snp_report.bin')), aux: { vcek: vector('vcek.der').toString('base64'), ask: ask!.toString(), ark: ark!.toString() } }, now: new Date('2025-01-01'), authenticated: [[0, 0x330]] },
  // CSV v1: the signed TeeInfo [0, 0xB4), sig_algo and anonce (the XOR key), the
  // low 32 bytes of r and s, and the signer block under its HMAC-SM3.
  { name: 'csv', ev: { platform: 'csv', quote: u8(vector('csv_report.cert')), aux: { hsk_cek: vector('hsk_cek.cert').toString('base64'), hrk: vector('hrk.cert').toString('base64') } }, now: new Date(), authenticated: [[0, 0xb4], [0xb8, 0xe0], [0x108, 0x128], [0x150, 2548]] },
  { name: 'tpm', ev: { platform: 'tpm', quote: u8(Buffer.from(tpm.tpm_quote.message, 'base64')), aux: { signature: tpm.tpm_quote.signature, pcrs: JSON.stringify(tpm.tpm_quote.pcrs), ak_public: tpm.ak_public } }, now: new Date(), authenticated: [[0, Buffer.from(tpm.tpm_quote.message, 'base64').length]] },
];
const BASE = new Map<string, Claims>();
for (const c of CASES) BASE.set(c.name, await verifier.verify(c.ev, { now: c.now }));

/**
 * The same claims, the trailing-bytes check aside: bytes appended after the
 * structure are reported there (docs/platforms.md, "Trailing bytes") and change
 * nothing else.
 */
function sameClaims(a: Claims, b: Claims | undefined): boolean {
  const strip = (c: Claims) => ({ ...c, checks: c.checks.filter((x) => x.check !== 'trailing-bytes') });
  return b !== undefined && isDeepStrictEqual(strip(a), strip(b));
}

/** Verifies; returns the claims, or undefined for a PlatformError; anything else escapes. */
async function verifyOrReject(ev: Evidence, now: Date): Promise<Claims | undefined> {
  try {
    return await verifier.verify(ev, { now });
  } catch (e) {
    expectTyped(e, PlatformError);
    return undefined;
  }
}

/** Indexes an edit touches in the original (for the "authenticated bytes" property); undefined = changes the length. */
function touched(len: number, e: ByteEdit): number | undefined {
  if (e.op === 'flip' || e.op === 'set') return len === 0 ? undefined : e.at % len;
  return undefined;
}

const PLATFORMS: PlatformName[] = ['sim', 'tdx', 'sgx', 'sev-snp', 'csv', 'tpm'];

t.test('the real vectors verify (the properties below start from valid evidence)', async (t) => {
  for (const c of CASES) t.equal(BASE.get(c.name)?.platform, c.ev.platform, c.name);
});

t.test('random bytes: parse and verify end in a PlatformError', async (t) => {
  const auxArb = fc.option(fc.dictionary(fc.oneof(fc.constantFrom('vcek', 'vlek', 'ask', 'ark', 'cert_table', 'hsk_cek', 'hsk', 'cek', 'hrk', 'chip_id', 'report_version', 'signature', 'pcrs', 'ak_public', 'collateral'), fc.string({ maxLength: 6 })), fc.oneof(fc.base64String({ maxLength: 200 }), fc.string({ maxLength: 40 }), fc.constantFrom('1', '2', '[]', '{}', '{"sha256":{"0":"00"}}')), { maxKeys: 3 }), { nil: undefined });
  await checkProperty(t, 'random evidence of every platform', [fc.constantFrom(...PLATFORMS), fc.oneof(fc.uint8Array({ maxLength: 1200 }), fc.integer({ min: 0, max: 6000 }).map((n) => new Uint8Array(n))), auxArb], async (platform, quote, aux) => {
    const ev: Evidence = { platform, quote, ...(aux ? { aux } : {}) };
    try {
      verifier.parse(ev);
    } catch (e) {
      expectTyped(e, PlatformError);
    }
    if ((await verifyOrReject(ev, new Date())) !== undefined) throw new Error('random bytes verified');
  }, { runs: 1500 });
});

t.test('mutated real vectors: a PlatformError or the very same claims', async (t) => {
  for (const c of CASES) {
    const base = BASE.get(c.name)!;
    await checkProperty(t, `${c.name}: edited quote`, [byteEdits(3)], async (edits) => {
      const quote = applyEdits(c.ev.quote, edits);
      if (unchanged(quote, c.ev.quote)) return;
      const claims = await verifyOrReject({ ...c.ev, quote: u8(quote) }, c.now);
      if (claims && !sameClaims(claims, base)) throw new Error(`an edited ${c.name} quote verified with other claims`);
      // One in-place edit of an authenticated byte must be rejected.
      if (claims && edits.length === 1) {
        const i = touched(c.ev.quote.length, edits[0]!);
        if (i !== undefined && c.authenticated.some(([a, b]) => i >= a && i < b)) throw new Error(`an edit of authenticated byte ${i} of ${c.name} was accepted`);
      }
    }, { runs: 250 });
  }
});

t.test('every single-bit flip of an authenticated byte is rejected (sampled)', async (t) => {
  for (const c of CASES) {
    const total = c.authenticated.reduce((n, [a, b]) => n + (b - a), 0);
    await checkProperty(t, `${c.name}: authenticated flips`, [fc.integer({ min: 0, max: total - 1 }), fc.integer({ min: 0, max: 7 })], async (k, bit) => {
      let i = k;
      for (const [a, b] of c.authenticated) {
        if (i < b - a) {
          i += a;
          break;
        }
        i -= b - a;
      }
      const q = Buffer.from(c.ev.quote);
      q[i] = q[i]! ^ (1 << bit);
      if ((await verifyOrReject({ ...c.ev, quote: u8(q) }, c.now)) !== undefined) throw new Error(`flip of bit ${bit} of byte ${i} accepted`);
    }, { runs: 150 });
  }
});

t.test('mutated aux material: a PlatformError or the very same claims', async (t) => {
  const withAux = CASES.filter((c) => c.ev.aux);
  const edit = fc.record({
    c: fc.integer({ min: 0, max: withAux.length - 1 }),
    key: fc.nat(),
    how: fc.oneof(
      fc.record({ k: fc.constant('der' as const), edits: byteEdits(2) }),
      fc.record({ k: fc.constant('text' as const), edits: byteEdits(2) }),
      fc.record({ k: fc.constant('value' as const), value: fc.oneof(fc.string({ maxLength: 30 }), fc.base64String({ maxLength: 120 })) }),
      fc.record({ k: fc.constant('drop' as const) }),
      fc.record({ k: fc.constant('add' as const), name: fc.string({ maxLength: 8 }), value: fc.string({ maxLength: 8 }) }),
    ),
  });
  await checkProperty(t, 'edited aux entries', [edit], async ({ c: ci, key, how }) => {
    const c = withAux[ci]!;
    const aux = { ...c.ev.aux! };
    const names = Object.keys(aux);
    const name = names[key % names.length]!;
    const v = aux[name]!;
    if (how.k === 'der') {
      // base64 DER (vcek, hsk_cek, hrk, signature, ak_public) or PEM (ask, ark): edit the bytes inside
      aux[name] = v.includes('-----BEGIN') ? applyPemEdits(v, how.edits) : applyEdits(Buffer.from(v, 'base64'), how.edits).toString('base64');
    } else if (how.k === 'text') aux[name] = applyTextEdits(v, how.edits);
    else if (how.k === 'value') aux[name] = how.value;
    else if (how.k === 'drop') delete aux[name];
    else aux[how.name] = how.value;
    if (isDeepStrictEqual(aux, c.ev.aux)) return;
    const claims = await verifyOrReject({ ...c.ev, aux }, c.now);
    if (claims && !isDeepStrictEqual(claims, BASE.get(c.name))) throw new Error(`${c.name} with edited aux.${name} verified with other claims`);
  }, { runs: 400 });
});

t.test('regression: a VCEK whose public key does not decode', async (t) => {
  // Found by 'edited aux entries'. Shrunk counterexample: the snp case with aux.vcek
  // = vcek.der with byte 375 set to 0x00, the first byte of the SPKI algorithm OID
  // (id-ecPublicKey becomes 0.0.134...). X509Certificate parses it and decodes the
  // key lazily, so `vek.publicKey` threw OpenSSL's raw "decode error".
  const snp = CASES.find((c) => c.name === 'snp')!;
  const der = Buffer.from(vector('vcek.der'));
  t.equal(der[375], 0x2a, 'the OID byte of the fixture');
  der[375] = 0x00;
  await t.rejects(verifier.verify({ ...snp.ev, aux: { ...snp.ev.aux, vcek: der.toString('base64') } }, { now: snp.now }), { code: 'EVIDENCE_MALFORMED', message: /VCEK is not a valid X\.509 certificate/ });
});

t.test('the SEV-SNP certificate table, the TPM structures and the Hygon certificates', async (t) => {
  const table = buildCertTable({ vcek: vector('vcek.der'), ask: ask!.raw, ark: ark!.raw });
  const snp = CASES.find((c) => c.name === 'snp')!;
  await checkProperty(t, 'SEV-SNP cert table: random and edited', [fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), byteEdits(3).map((e) => applyEdits(table, e)))], async (tb) => {
    try {
      parseCertTable(tb);
    } catch (e) {
      expectTyped(e, PlatformError);
    }
    const claims = await verifyOrReject({ ...snp.ev, aux: { cert_table: tb.toString('base64') } }, snp.now);
    if (claims && !isDeepStrictEqual(claims, BASE.get('snp'))) throw new Error('an edited cert table verified with other claims');
  }, { runs: 300 });

  const pcrsArb = fc.oneof(hostileJson.map((v) => JSON.stringify(v) ?? ''), fc.string({ maxLength: 40 }), fc.dictionary(fc.constantFrom('sha1', 'sha256', 'sha384', 'md5', '__proto__', 'constructor'), fc.oneof(hostileJson, fc.dictionary(fc.oneof(fc.nat({ max: 30 }).map(String), fc.string({ maxLength: 3 })), fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFxz'), maxLength: 8 }), hostileJson))), { maxKeys: 2 }).map((v) => JSON.stringify(v)));
  await checkProperty(t, 'TPM aux.pcrs JSON and TPMT_SIGNATURE bytes', [pcrsArb, fc.uint8Array({ maxLength: 80 })], (pcrs, sig) => {
    for (const f of [() => parsePcrValues(pcrs), () => parseTpmtSignature(sig)]) {
      try {
        f();
      } catch (e) {
        expectTyped(e, PlatformError);
      }
    }
  }, { runs: 1500 });

  const pair = vector('hsk_cek.cert');
  await checkProperty(t, 'Hygon HSK/CEK/HRK certificates: random and edited', [fc.oneof(fc.uint8Array({ maxLength: 900 }).map((b) => Buffer.from(b)), byteEdits(3).map((e) => applyEdits(pair.subarray(0, 832), e)), byteEdits(3).map((e) => applyEdits(pair.subarray(832), e)))], (b) => {
    for (const f of [() => parseCaCert(b, 'HSK'), () => parseCsvCert(b, 'CEK')]) {
      try {
        f();
      } catch (e) {
        expectTyped(e, PlatformError);
      }
    }
  }, { runs: 1000 });
});

t.test('the wire forms: decodeEvidence and ualToEvidence', async (t) => {
  const wire = fc.oneof(
    hostileJson,
    fc.record({ platform: fc.oneof(fc.constantFrom(...PLATFORMS), hostileJson), quote: fc.oneof(fc.base64String({ maxLength: 60 }), hostileJson), aux: fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 10 }), hostileJson), { maxKeys: 20 }), hostileJson) }, { requiredKeys: [] }),
  );
  await checkProperty(t, 'decodeEvidence arbitrary JSON and text', [fc.oneof(wire, wire.map((v) => JSON.stringify(v) ?? ''), fc.string({ maxLength: 40 }))], (v) => {
    try {
      decodeEvidence(v);
    } catch (e) {
      expectTyped(e, PlatformError);
    }
  }, { runs: 2000 });
  const teeNames = fc.constantFrom('SGX_DCAP', 'TDX', 'CSV', 'SEV_SNP', 'TPM', 'SIM');
  const jsonText = fc.oneof(hostileJson.map((v) => JSON.stringify(v) ?? ''), fc.string({ maxLength: 20 }));
  const ual = fc.oneof(
    hostileJson,
    fc.record({
      str_tee_platform: fc.oneof(teeNames, hostileJson),
      json_report: fc.oneof(jsonText, hostileJson, fc.record({ b64_quote: fc.oneof(fc.base64String({ maxLength: 40 }), hostileJson), json_aux: fc.oneof(jsonText, hostileJson), json_collateral: hostileJson, json_cert_chain: fc.oneof(jsonText, hostileJson), str_chip_id: hostileJson }, { requiredKeys: [] }).map((o) => JSON.stringify(o))),
    }, { requiredKeys: [] }),
  );
  await checkProperty(t, 'ualToEvidence arbitrary reports', [ual], (v) => {
    try {
      ualToEvidence(v);
    } catch (e) {
      expectTyped(e, PlatformError);
    }
  }, { runs: 2000 });
  for (const c of CASES) {
    t.same(decodeEvidence(JSON.stringify(encodeEvidence(c.ev))), { ...c.ev, quote: new Uint8Array(c.ev.quote) }, `${c.name}: wire form round-trips`);
    t.same(ualToEvidence(evidenceToUal(c.ev)).quote, new Uint8Array(c.ev.quote), `${c.name}: UAL form round-trips`);
  }
});
