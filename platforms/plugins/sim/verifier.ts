// Sim verifier: the quote's key id must name one of the trusted sim keys, and
// the P-256 signature must verify. Claims always say insecure: true.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { PlatformError } from '../../errors.ts';
import { CHECK, CheckList, trailingBytesCheck } from '../../core/checks.ts';
import type { PlatformVerifier } from '../../core/plugin.ts';
import type { Claims, Evidence } from '../../core/types.ts';
import { parseSimQuote } from './format.ts';
import { simKeyId } from './signing-key.ts';

export function createSimVerifier(trustedPems: string[] = []): PlatformVerifier {
  const trusted = new Map<string, KeyObject>();
  for (const pem of trustedPems) {
    let k: KeyObject;
    try {
      k = createPublicKey(pem);
    } catch (cause) {
      throw new PlatformError('INVALID_INPUT', 'trustedSimKeys contains an unreadable public key', { cause });
    }
    trusted.set(simKeyId(k).toString('hex'), k);
  }
  return {
    platform: 'sim',
    parse: (evidence) => parseSimQuote(evidence.quote),
    async verify(evidence: Evidence): Promise<Claims> {
      const q = parseSimQuote(evidence.quote);
      if (trusted.size === 0) throw new PlatformError('TRUST_ANCHOR_MISSING', 'sim evidence cannot be verified: no trustedSimKeys configured');
      const key = trusted.get(q.keyId.toString('hex'));
      if (!key) throw new PlatformError('UNTRUSTED_ROOT', `sim quote is signed by key ${q.keyId.toString('hex').slice(0, 16)}.., which is not among the trusted sim keys`);
      if (!verify('sha256', q.signed, { key, dsaEncoding: 'ieee-p1363' }, q.signature)) {
        throw new PlatformError('SIGNATURE_INVALID', 'sim quote signature does not verify with the trusted sim key');
      }
      return {
        platform: 'sim',
        measurements: Object.fromEntries(Object.entries(q.measurements).map(([k, v]) => [k, v.toString('hex')])),
        reportData: q.reportData.toString('hex'),
        // No hardware, so no TCB to be current or not: NotApplicable (never Unknown, which
        // would ask for collateral that cannot exist). allowInsecure governs sim evidence.
        tcb: { status: 'NotApplicable' },
        debug: q.debug,
        insecure: true,
        extra: { key_id: q.keyId.toString('hex'), issued_at: new Date(q.issuedAt).toISOString() },
        checks: new CheckList()
          .pass(CHECK.signature, `sim quote signed by trusted sim key ${q.keyId.toString('hex').slice(0, 16)}.. (ECDSA P-256)`)
          .warn('hardware-root-of-trust', 'sim: no hardware root of trust, the key is a file (appraisal needs allowInsecure)')
          .notChecked(CHECK.tcbStatus, 'no TCB on the sim platform: TCB status NotApplicable')
          .add(trailingBytesCheck(q.trailing.length, 'the signature', q.trailing))
          .toArray(),
      };
    },
  };
}
