// TPM 2.0 quote verifier: the AK signs TPMS_ATTEST (RSASSA/RSAPSS/ECDSA); AK
// trust comes only from configuration (tpmTrustedAkPems); the PCR values in the
// evidence must hash to the quote's pcrDigest; extraData is the report data.
// aux: signature (base64 TPMT_SIGNATURE), pcrs (JSON: {"sha256": {"0": hex, ...}}
// or an array of sha256 hex values by index), ak_public (base64 SPKI, optional).
import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { CHECK, CheckList, tcbStatusCheck, trailingBytesCheck } from '../../core/checks.ts';
import { resolveTcbStatus } from '../../core/collateral.ts';
import { PlatformError } from '../../errors.ts';
import type { PlatformVerifier, CommonVerifierOptions } from '../../core/plugin.ts';
import type { TpmVerifierOptions } from './plugin.ts';
import type { Claims, Evidence, VerifyContext } from '../../core/types.ts';
import { ALG, computePcrDigest, hashName, parseTpmsAttest, parseTpmtSignature, type TpmSignature } from './attest.ts';

export const TPM_AUX_KEYS = ['signature', 'pcrs', 'ak_public'] as const;
const BANKS: Record<string, number> = { sha1: ALG.SHA1, sha256: ALG.SHA256, sha384: ALG.SHA384, sha512: ALG.SHA512 };

export function parsePcrValues(json: string): Map<string, Buffer> {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (cause) {
    throw new PlatformError('EVIDENCE_MALFORMED', 'TPM aux.pcrs is not JSON', { cause });
  }
  const out = new Map<string, Buffer>();
  const put = (bank: number, idx: string, hex: unknown) => {
    if (typeof hex !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(hex) || !/^\d{1,2}$/.test(idx)) throw new PlatformError('EVIDENCE_MALFORMED', `TPM aux.pcrs has an invalid entry ${idx}`);
    out.set(`${bank}:${Number(idx)}`, Buffer.from(hex, 'hex'));
  };
  if (Array.isArray(v)) v.forEach((hex, i) => put(ALG.SHA256, String(i), hex));
  else if (v && typeof v === 'object') {
    for (const [bank, vals] of Object.entries(v as Record<string, unknown>)) {
      const alg = BANKS[bank];
      if (!alg || !vals || typeof vals !== 'object') throw new PlatformError('EVIDENCE_MALFORMED', `TPM aux.pcrs has an unknown bank ${bank}`);
      for (const [i, hex] of Object.entries(vals as Record<string, unknown>)) put(alg, i, hex);
    }
  } else throw new PlatformError('EVIDENCE_MALFORMED', 'TPM aux.pcrs must be an array or an object of banks');
  return out;
}

function verifyWith(key: KeyObject, data: Buffer, s: TpmSignature): boolean {
  const alg = hashName(s.hash);
  if (s.sigAlg === ALG.RSASSA) return key.asymmetricKeyType === 'rsa' && verify(alg, data, { key, padding: constants.RSA_PKCS1_PADDING }, s.sig);
  if (s.sigAlg === ALG.RSAPSS) return key.asymmetricKeyType === 'rsa' && verify(alg, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, s.sig);
  if (key.asymmetricKeyType !== 'ec') return false;
  const size = { prime256v1: 32, secp384r1: 48, secp521r1: 66 }[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? 32;
  const pad = (b: Buffer) => Buffer.concat([Buffer.alloc(Math.max(0, size - b.length)), b.subarray(Math.max(0, b.length - size))]);
  return verify(alg, data, { key, dsaEncoding: 'ieee-p1363' }, Buffer.concat([pad(s.r!), pad(s.s!)]));
}

export function createTpmVerifier(o: TpmVerifierOptions & CommonVerifierOptions): PlatformVerifier {
  const trusted = (o.tpmTrustedAkPems ?? []).map((pem) => {
    try {
      return createPublicKey(pem);
    } catch (cause) {
      throw new PlatformError('INVALID_INPUT', 'tpmTrustedAkPems contains an unreadable public key', { cause });
    }
  });
  return {
    platform: 'tpm',
    parse: (evidence) => parseTpmsAttest(evidence.quote),
    async verify(evidence: Evidence, _ctx: VerifyContext): Promise<Claims> {
      // Unknown aux keys are rejected by the catalog (plugin.ts auxKeys = TPM_AUX_KEYS).
      const aux = evidence.aux ?? {};
      const q = parseTpmsAttest(evidence.quote);
      if (!aux.signature) throw new PlatformError('EVIDENCE_MALFORMED', 'TPM evidence lacks aux.signature');
      const sig = parseTpmtSignature(Buffer.from(aux.signature, 'base64'), { whole: true });
      if (trusted.length === 0) throw new PlatformError('TRUST_ANCHOR_MISSING', 'TPM evidence cannot be verified: no tpmTrustedAkPems configured');
      let candidates = trusted;
      if (aux.ak_public) {
        let ak: KeyObject;
        try {
          ak = createPublicKey({ key: Buffer.from(aux.ak_public, 'base64'), format: 'der', type: 'spki' });
        } catch (cause) {
          throw new PlatformError('EVIDENCE_MALFORMED', 'TPM aux.ak_public is not a DER SPKI public key', { cause });
        }
        candidates = trusted.filter((k) => k.equals(ak));
        if (candidates.length === 0) throw new PlatformError('UNTRUSTED_ROOT', 'the TPM attestation key in the evidence is not among the trusted AKs');
      }
      const data = Buffer.from(evidence.quote);
      if (!candidates.some((k) => verifyWith(k, data, sig))) throw new PlatformError('SIGNATURE_INVALID', 'TPM quote signature does not verify with a trusted attestation key');
      if (!aux.pcrs) throw new PlatformError('EVIDENCE_MALFORMED', 'TPM evidence lacks aux.pcrs (the PCR values behind pcrDigest)');
      const values = parsePcrValues(aux.pcrs);
      const digest = computePcrDigest(q.selections, values, sig.hash);
      if (!digest.equals(q.pcrDigest)) throw new PlatformError('BINDING_INVALID', 'TPM PCR values do not hash to the signed pcrDigest');
      const measurements: Record<string, string> = {};
      for (const sel of q.selections) {
        for (const i of sel.pcrs) measurements[sel.hash === ALG.SHA256 ? `pcr${i}` : `pcr${i}_${hashName(sel.hash)}`] = values.get(`${sel.hash}:${i}`)!.toString('hex');
      }
      const rd = Buffer.alloc(64);
      q.extraData.copy(rd);
      const svn = { firmware_version: q.firmwareVersion.toString(16), reset_count: q.resetCount, restart_count: q.restartCount };
      const status = await resolveTcbStatus(o.collateral, { platform: 'tpm', svn });
      // Verdict: every step above passed (or threw); what was not checked is listed too.
      const checks = new CheckList()
        .pass(CHECK.signature, `TPMS_ATTEST signed by a trusted attestation key (${sig.sigAlg === ALG.ECDSA ? 'ECDSA' : sig.sigAlg === ALG.RSAPSS ? 'RSASSA-PSS' : 'RSASSA-PKCS1-v1_5'}, ${hashName(sig.hash)})`)
        .notChecked(CHECK.certChain, 'the AK is trusted by configuration (tpmTrustedAkPems): no EK certificate or AK credential is checked')
        .pass('pcr-digest', `the PCR values hash to the signed pcrDigest (${q.selections.reduce((n, s) => n + s.pcrs.length, 0)} PCRs)`)
        .add(tcbStatusCheck(status, o.collateral !== undefined))
        .add(trailingBytesCheck(0, 'TPMS_ATTEST'));
      return {
        platform: 'tpm',
        measurements,
        reportData: rd.toString('hex'),
        tcb: { status, svn },
        debug: false,
        insecure: false,
        extra: { clock: q.clock.toString(), safe: q.safe, qualified_signer: q.qualifiedSigner.toString('hex'), extra_data_length: q.extraData.length },
        checks: checks.toArray(),
      };
    },
  };
}
