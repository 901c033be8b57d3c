// Hygon CSV verifier: PEK -> report (SM2/SM3 with the PEK's user id) offline,
// and HRK -> HSK -> CEK -> PEK when the chip's HSK/CEK are available (aux.hsk_cek,
// aux.hsk + aux.cek, or VerifierOptions.csvCertProvider by chip serial). The HRK
// comes from configuration (hygonHrk) or the evidence (aux.hrk), accepted only
// when its key matches the pinned digest or the configured HRK.
import { PlatformError } from '../../errors.ts';
import { CHECK, CheckList, tcbStatusCheck, trailingBytesCheck } from '../../core/checks.ts';
import { resolveTcbStatus } from '../../core/collateral.ts';
import type { PlatformVerifier, CommonVerifierOptions } from '../../core/plugin.ts';
import type { CsvVerifierOptions } from './plugin.ts';
import type { Claims, Evidence, VerifyContext } from '../../core/types.ts';
import { CA_CERT_SIZE, HYGON_HRK_KEY_SHA256, parseCaCert, parseCsvCert, USAGE, verifyIssued, type HygonCert } from './certs.ts';
import { parseCsvReport } from './report.ts';
import { sm2Verify } from './sm2.ts';

export const CSV_AUX_KEYS = ['report_version', 'hsk_cek', 'hsk', 'cek', 'hrk', 'chip_id'] as const;

function b64(v: string | undefined): Buffer | undefined {
  return v ? Buffer.from(v, 'base64') : undefined;
}

function reportVersion(aux: Record<string, string>): 1 | 2 {
  if (aux.report_version === undefined || aux.report_version === '1') return 1;
  if (aux.report_version === '2') return 2;
  throw new PlatformError('UNSUPPORTED_VERSION', `CSV report version ${aux.report_version} is not supported (1, 2)`);
}

export function createCsvVerifier(o: CsvVerifierOptions & CommonVerifierOptions): PlatformVerifier {
  const configuredHrk = o.hygonHrk ? parseCaCert(Buffer.from(o.hygonHrk), 'configured HRK') : undefined;
  return {
    platform: 'csv',
    parse: (evidence) => parseCsvReport(evidence.quote, reportVersion(evidence.aux ?? {})),
    async verify(evidence: Evidence, _ctx: VerifyContext): Promise<Claims> {
      // Unknown aux keys are rejected by the catalog (plugin.ts auxKeys = CSV_AUX_KEYS).
      const aux = evidence.aux ?? {};
      const r = parseCsvReport(evidence.quote, reportVersion(aux));
      if (r.macValid === false) throw new PlatformError('SIGNATURE_INVALID', 'CSV report: the signer block MAC (HMAC-SM3 keyed by mnonce) does not verify');
      const pek = parseCsvCert(r.pekCert, 'PEK certificate');
      if (pek.usage !== USAGE.PEK) throw new PlatformError('EVIDENCE_MALFORMED', `CSV report: signer certificate usage 0x${pek.usage.toString(16)} is not PEK`);
      if (!sm2Verify(pek.key, pek.uid, r.signed, r.r, r.s)) throw new PlatformError('SIGNATURE_INVALID', 'CSV report signature does not verify with the PEK (SM2/SM3)');

      let hsk: HygonCert | undefined;
      let cek: HygonCert | undefined;
      const pair = b64(aux.hsk_cek);
      if (pair) {
        if (pair.length !== CA_CERT_SIZE + 2084) throw new PlatformError('EVIDENCE_MALFORMED', 'CSV aux.hsk_cek must be HSK (832) || CEK (2084)');
        hsk = parseCaCert(pair.subarray(0, CA_CERT_SIZE), 'HSK certificate');
        cek = parseCsvCert(pair.subarray(CA_CERT_SIZE), 'CEK certificate');
      } else if (aux.hsk && aux.cek) {
        hsk = parseCaCert(b64(aux.hsk)!, 'HSK certificate');
        cek = parseCsvCert(b64(aux.cek)!, 'CEK certificate');
      } else if (o.csvCertProvider) {
        const got = await o.csvCertProvider(r.chipSn);
        if (got) {
          hsk = parseCaCert(Buffer.from(got.hsk), 'HSK certificate');
          cek = parseCsvCert(Buffer.from(got.cek), 'CEK certificate');
        }
      }
      let chain: 'hrk' | 'pek-only';
      if (hsk && cek) {
        const hrk = configuredHrk ?? (aux.hrk ? parseCaCert(b64(aux.hrk)!, 'HRK certificate') : undefined);
        if (!hrk) throw new PlatformError('TRUST_ANCHOR_MISSING', 'CSV: no Hygon root key (set hygonHrk or send aux.hrk)');
        if (!configuredHrk && hrk.keyDigest !== HYGON_HRK_KEY_SHA256) throw new PlatformError('UNTRUSTED_ROOT', 'CSV: the HRK in the evidence is not the pinned Hygon root key');
        if (hsk.certifyingId && hrk.keyId && !hsk.certifyingId.equals(hrk.keyId)) throw new PlatformError('UNTRUSTED_ROOT', 'CSV: the HSK is certified by another root key than the configured HRK');
        verifyIssued(hsk, hrk, 'HSK certificate');
        verifyIssued(cek, { ...hsk, usage: USAGE.HSK }, 'CEK certificate');
        verifyIssued(pek, { ...cek, usage: USAGE.CEK }, 'PEK certificate');
        chain = 'hrk';
      } else if (o.csvAllowPekOnly) {
        chain = 'pek-only';
      } else {
        throw new PlatformError('TRUST_ANCHOR_MISSING', `CSV: the HSK/CEK of chip ${r.chipSn} are not available, so the PEK cannot be traced to the Hygon root (send aux.hsk_cek, configure csvCertProvider, or set csvAllowPekOnly)`);
      }
      const hex = (b: Buffer) => b.toString('hex');
      const measurements: Record<string, string> = {
        measure: hex(r.measure),
        mr_boot: hex(r.measure),
        user_pubkey_digest: hex(r.userPubkeyDigest),
        vm_id: hex(r.vmId),
        vm_version: hex(r.vmVersion),
      };
      r.rtmr?.forEach((m, i) => (measurements[`rtmr${i}`] = hex(m)));
      const svn = { hsk_version: (r.policy >> 8) & 0xf, cek_version: (r.policy >> 12) & 0xf, api_major: (r.policy >> 16) & 0xff, api_minor: (r.policy >>> 24) & 0xff };
      const status = await resolveTcbStatus(o.collateral, { platform: 'csv', platformId: r.chipSn, svn });
      // Verdict: every step above passed (or threw); what was not checked is listed too.
      const checks = new CheckList();
      if (r.macValid) checks.pass('signer-mac', 'signer block MAC (HMAC-SM3 keyed by mnonce) verifies');
      else checks.notChecked('signer-mac', 'the signer block comes restored (not in firmware form): its MAC cannot be checked');
      checks.pass(CHECK.signature, `report signed by the PEK over [0, 0x${r.signed.length.toString(16)}) (SM2/SM3, user id ${pek.uid.toString('latin1')})`);
      if (chain === 'hrk') checks.pass(CHECK.certChain, `PEK <- CEK <- HSK <- HRK (${configuredHrk ? 'configured hygonHrk' : 'pinned Hygon root key'}) for chip ${r.chipSn}`);
      else checks.notChecked(CHECK.certChain, `the HSK/CEK of chip ${r.chipSn} are not available: the PEK is not traced to the Hygon root (csvAllowPekOnly)`);
      checks.add(tcbStatusCheck(status, o.collateral !== undefined));
      checks.add(trailingBytesCheck(r.trailing.length, 'the signer block', r.trailing));
      return {
        platform: 'csv',
        measurements,
        reportData: hex(r.reportData),
        tcb: { status, svn },
        // POLICY bit 0 NODBG: debugging is disallowed when set
        debug: (r.policy & 1) === 0,
        insecure: false,
        extra: { report_version: r.version, chip_id: r.chipSn, policy: r.policy, chain, mnonce: hex(r.mnonce), ...(r.build !== undefined ? { build: r.build } : {}) },
        checks: checks.toArray(),
      };
    },
  };
}
