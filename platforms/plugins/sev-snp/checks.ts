// The SEV-SNP verdict (Claims.checks): what createSnpVerifier established once
// every step has passed (a failing step throws), and what it did not check.
import type { X509Certificate } from 'node:crypto';
import { CHECK, CheckList, tcbStatusCheck, trailingBytesCheck } from '../../core/checks.ts';
import type { TcbStatus, VerificationCheck } from '../../core/types.ts';
import { SNP_SIGNED_END, type SnpReport } from './report.ts';

function cn(c: X509Certificate): string {
  return /CN=([^\n]+)/.exec(c.subject)?.[1] ?? c.subject.replace(/\n/g, ', ');
}

export function snpChecks(o: { report: SnpReport; signer: 'vcek' | 'vlek'; chain: X509Certificate[]; hasProvider: boolean; status: TcbStatus }): VerificationCheck[] {
  const key = o.signer.toUpperCase();
  const checks = new CheckList()
    .pass(CHECK.signature, `report signed by the ${key} over [0, 0x${SNP_SIGNED_END.toString(16)}) (ECDSA P-384, SHA-384)`)
    .pass(CHECK.certChain, `${o.chain.map(cn).join(' <- ')}${o.chain.length < 3 ? ' <- a configured ARK' : ''}, ARK pinned or configured`)
    .notChecked(CHECK.crl, `no AMD CRL supplied: ${key} and ${o.signer === 'vlek' ? 'ASVK' : 'ASK'} revocation not checked`)
    .pass('tcb-binding', `the ${key}'s TCB extensions equal REPORTED_TCB`);
  if (o.signer === 'vlek') checks.notChecked('chip-id-binding', 'a VLEK is not chip-specific: CHIP_ID is not bound to a key');
  else if (o.report.maskChipKey) checks.notChecked('chip-id-binding', 'MASK_CHIP_KEY is set: the report carries no CHIP_ID to bind to the VCEK');
  else checks.pass('chip-id-binding', "CHIP_ID equals the VCEK's hwID");
  checks.add(tcbStatusCheck(o.status, o.hasProvider));
  checks.add(trailingBytesCheck(o.report.trailing.length, 'the 1184-byte report', o.report.trailing));
  return checks.toArray();
}
