// What a PCK certificate says about its platform (Intel's SGX extension,
// OID 1.2.840.113741.1.13.1): FMSPC, PCEID, PCESVN, the 16 SGX TCB component
// SVNs, CPUSVN, and which PCK CA issued it (processor or platform CRL applies).
import type { X509Certificate } from 'node:crypto';
import { extensionValue } from '../cert-chain.ts';
import { derInteger, findOidValue, readTlv } from '../der.ts';
import { SGX_EXTENSION_OID, SGX_FMSPC_OID, SGX_PCESVN_OID, SGX_TCB_OID } from './intel-root.ts';

export const SGX_PCEID_OID = '1.2.840.113741.1.13.1.3';
export const SGX_CPUSVN_OID = '1.2.840.113741.1.13.1.2.18';

export interface PckFacts {
  /** FMSPC, lowercase hex (6 bytes). */
  fmspc?: string;
  /** PCEID, lowercase hex (2 bytes). */
  pceId?: string;
  pceSvn?: number;
  /** SGX TCB component SVNs 1..16 as 16 bytes, hex (compared with TCB Info levels). */
  pckTcb?: string;
  cpuSvn?: string;
  /** The issuing PCK CA, from its CN ("Intel SGX PCK Processor CA" / "... Platform CA"). */
  ca?: 'processor' | 'platform';
}

export function pckFacts(pck: X509Certificate): PckFacts {
  const issuerCn = /CN=([^\n]+)/.exec(pck.issuer)?.[1] ?? '';
  const ca = /Processor CA/i.test(issuerCn) ? 'processor' : /Platform CA/i.test(issuerCn) ? 'platform' : undefined;
  const ext = extensionValue(pck, SGX_EXTENSION_OID);
  if (!ext) return { ca };
  const seq = readTlv(ext, 0);
  const f = findOidValue(seq.value, SGX_FMSPC_OID);
  const p = findOidValue(seq.value, SGX_PCESVN_OID);
  const id = findOidValue(seq.value, SGX_PCEID_OID);
  const cpu = findOidValue(seq.value, SGX_CPUSVN_OID);
  const comps: number[] = [];
  for (let n = 1; n <= 16; n++) {
    const c = findOidValue(seq.value, `${SGX_TCB_OID}.${n}`);
    if (!c) break;
    comps.push(derInteger(c.value));
  }
  return {
    fmspc: f?.value.toString('hex'),
    pceId: id?.value.toString('hex'),
    pceSvn: p ? derInteger(p.value) : undefined,
    pckTcb: comps.length === 16 ? Buffer.from(comps).toString('hex') : undefined,
    cpuSvn: cpu?.value.toString('hex'),
    ca,
  };
}
