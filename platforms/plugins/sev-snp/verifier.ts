// SEV-SNP verifier, offline: the VCEK/VLEK (from aux or the cert table) signs
// report[0:0x2A0] with ECDSA P-384/SHA-384; its chain VEK <- ASK/ASVK <- ARK
// (RSASSA-PSS SHA-384) ends at a pinned ARK (AMD's ASK/ASVK/ARK are bundled,
// roots/amd-certs.ts, for evidence that carries only the VEK); the VCEK's hwID
// equals CHIP_ID and its TCB extensions equal REPORTED_TCB.
import { createPublicKey, verify, type KeyObject, type X509Certificate } from 'node:crypto';
import { anchorsFrom, extensionValue, fingerprint, parseCert, pemBlocks, verifyChain } from '../../core/cert-chain.ts';
import { resolveTcbStatus } from '../../core/collateral.ts';
import { derInteger, readTlv } from '../../core/der.ts';
import { PlatformError } from '../../errors.ts';
import type { PlatformVerifier, CommonVerifierOptions } from '../../core/plugin.ts';
import type { SnpVerifierOptions } from './plugin.ts';
import type { Claims, Evidence, VerifyContext } from '../../core/types.ts';
import { AMD_ARK_SHA256, amdBundledCerts, VCEK_OIDS } from './amd-roots.ts';
import { parseCertTable } from './cert-table.ts';
import { snpChecks } from './checks.ts';
import { decodeTcb, parseSnpReport, productFromCpuid, type SnpProduct, type SnpReport, type SnpTcb } from './report.ts';

/** aux keys: cert_table (base64), vcek | vlek (base64 DER or PEM), ask | asvk | ark (PEM or base64 DER). */
export const SNP_AUX_KEYS = ['cert_table', 'vcek', 'vlek', 'ask', 'asvk', 'ark'] as const;

function certsFromAux(v: string, what: string): X509Certificate[] {
  const pems = pemBlocks(v);
  if (pems.length > 0) return pems.map((p) => parseCert(p, what));
  return [parseCert(Buffer.from(v, 'base64'), what)];
}

function cn(c: X509Certificate): string {
  return /CN=([^\n]+)/.exec(c.subject)?.[1] ?? '';
}

/** Verifies the report signature with the endorsement key (exported for tooling). */
export function verifySnpReportSignature(r: SnpReport, key: KeyObject): boolean {
  return verify('sha384', r.signed, { key, dsaEncoding: 'ieee-p1363' }, r.signature);
}

function extInt(c: X509Certificate, oid: string): number | undefined {
  const v = extensionValue(c, oid);
  if (!v) return undefined;
  const t = readTlv(v, 0);
  if (t.tag !== 0x02) throw new PlatformError('EVIDENCE_MALFORMED', `VCEK extension ${oid} is not an INTEGER`);
  return derInteger(t.value);
}

function hwId(c: X509Certificate): Buffer | undefined {
  const v = extensionValue(c, VCEK_OIDS.hwid);
  if (!v) return undefined;
  // Older VCEKs carry the raw bytes; newer ones a DER OCTET STRING.
  if (v[0] === 0x04 && v.length !== 64 && v.length !== 8) return readTlv(v, 0).value;
  if (v[0] === 0x04) {
    try {
      const t = readTlv(v, 0);
      if (t.end === v.length) return t.value;
    } catch {
      /* raw */
    }
  }
  return v;
}

function productOf(r: SnpReport, vek: X509Certificate): SnpProduct {
  const m = /SEV-(?:VLEK-)?(Milan|Genoa|Turin)/.exec(cn(vek)) ?? /SEV-(?:VLEK-)?(Milan|Genoa|Turin)/.exec(vek.issuer);
  const fromCert = m?.[1] as SnpProduct | undefined;
  const fromCpu = r.cpuid ? productFromCpuid(r.cpuid) : undefined;
  if (fromCert && fromCpu && fromCert !== fromCpu) throw new PlatformError('BINDING_INVALID', `SEV-SNP report CPUID says ${fromCpu} but the endorsement key is issued for ${fromCert}`);
  const p = fromCpu ?? fromCert;
  if (!p) throw new PlatformError('EVIDENCE_MALFORMED', 'SEV-SNP: cannot tell the processor product (no CPUID in the report, no product in the VCEK issuer)');
  return p;
}

function checkTcbBinding(vek: X509Certificate, tcb: SnpTcb, product: SnpProduct): void {
  const want: Array<[keyof typeof VCEK_OIDS, number | undefined]> = [
    ['bootloader', tcb.bootloader],
    ['tee', tcb.tee],
    ['snp', tcb.snp],
    ['microcode', tcb.microcode],
  ];
  if (product === 'Turin') want.push(['fmc', tcb.fmc]);
  for (const [k, v] of want) {
    const got = extInt(vek, VCEK_OIDS[k]);
    if (got === undefined) throw new PlatformError('BINDING_INVALID', `SEV-SNP endorsement key has no ${k} SPL extension`);
    if (got !== v) throw new PlatformError('BINDING_INVALID', `SEV-SNP REPORTED_TCB ${k}=${v} differs from the endorsement key's ${k} SPL ${got}`);
  }
}

export function createSnpVerifier(o: SnpVerifierOptions & CommonVerifierOptions): PlatformVerifier {
  const arkFps = [...Object.values(AMD_ARK_SHA256), ...(o.amdArkFingerprints ?? [])];
  return {
    platform: 'sev-snp',
    parse: (evidence) => parseSnpReport(evidence.quote),
    async verify(evidence: Evidence, ctx: VerifyContext): Promise<Claims> {
      const now = ctx.now ?? new Date();
      const r = parseSnpReport(evidence.quote);
      // Unknown aux keys are rejected by the catalog (plugin.ts auxKeys = SNP_AUX_KEYS).
      const aux = evidence.aux ?? {};
      const table = aux.cert_table ? parseCertTable(Buffer.from(aux.cert_table, 'base64')) : {};
      const want = r.signingKey;
      if (want === 'none') throw new PlatformError('UNSUPPORTED_VERSION', 'SEV-SNP report is not signed by a VCEK or VLEK');
      let vekSrc = want === 'vcek' ? (aux.vcek ?? table.vcek?.toString('base64')) : (aux.vlek ?? table.vlek?.toString('base64'));
      if (!vekSrc && want === 'vcek' && o.snpVcekProvider) {
        const product = r.cpuid ? productFromCpuid(r.cpuid) : undefined;
        const tcb = decodeTcb(r.reportedTcbRaw, product ?? 'Milan');
        const der = await o.snpVcekProvider({ product, chipId: r.chipId.toString('hex'), reportedTcb: { bootloader: tcb.bootloader, tee: tcb.tee, snp: tcb.snp, microcode: tcb.microcode, ...(tcb.fmc !== undefined ? { fmc: tcb.fmc } : {}) } });
        if (der) vekSrc = Buffer.from(der).toString('base64');
      }
      if (!vekSrc) throw new PlatformError('EVIDENCE_MALFORMED', `SEV-SNP evidence carries no ${want.toUpperCase()} (aux.${want} or cert_table)`);
      const vek = certsFromAux(vekSrc, want.toUpperCase())[0]!;
      // Signature first: a flipped report byte is reported as such.
      if (!verifySnpReportSignature(r, vek.publicKey)) throw new PlatformError('SIGNATURE_INVALID', `SEV-SNP report signature does not verify with the ${want.toUpperCase()}`);
      const product = productOf(r, vek);
      // Intermediates: the evidence's, then configured ones, then AMD's bundled ASK/ASVK
      // (roots/amd-certs.ts): the first that issued and verifies the VEK.
      const bundledCerts = amdBundledCerts();
      const intermediates = [
        ...(aux.ask ? certsFromAux(aux.ask, 'ASK') : []),
        ...(aux.asvk ? certsFromAux(aux.asvk, 'ASVK') : []),
        ...(table.ask ? [parseCert(table.ask, 'ASK')] : []),
        ...(o.amdIntermediatePems ?? []).flatMap((p) => certsFromAux(p, 'AMD intermediate')),
        ...bundledCerts.filter((b) => b.role !== 'ark').map((b) => b.cert),
      ];
      const ask = intermediates.find((c) => vek.checkIssued(c) && vek.verify(c.publicKey));
      if (!ask) {
        const named = vek.issuer.match(/CN=([^\n]+)/)?.[1] ?? 'issuer';
        throw new PlatformError('CHAIN_INVALID', `SEV-SNP: the ${want.toUpperCase()}'s issuer "${named}" is not available or does not verify it (provide it in aux.${want === 'vlek' ? 'asvk' : 'ask'}, the cert table, or amdIntermediatePems)`);
      }
      // An ARK the evidence carries must be pinned (or configured) and must be the one
      // that issued the ASK; without one, a configured ARK or AMD's bundled (pinned) one
      // completes the chain.
      const anchors = anchorsFrom(o.amdArkPems, arkFps);
      const evidenceArks = [...(aux.ark ? certsFromAux(aux.ark, 'ARK') : []), ...(table.ark ? [parseCert(table.ark, 'ARK')] : [])];
      for (const a of evidenceArks) {
        if (!anchors.fingerprints.has(fingerprint(a))) throw new PlatformError('UNTRUSTED_ROOT', `SEV-SNP: the evidence's ARK "${cn(a)}" (sha256 ${fingerprint(a).slice(0, 16)}..) is not a pinned AMD ARK (amd-roots.ts) nor configured (amdArkPems, amdArkFingerprints)`);
      }
      const arks = evidenceArks.length > 0 ? evidenceArks : [...(o.amdArkPems ?? []).flatMap((p) => certsFromAux(p, 'ARK')), ...bundledCerts.filter((b) => b.role === 'ark').map((b) => b.cert)];
      const ark = arks.find((c) => ask.checkIssued(c) && ask.verify(c.publicKey)) ?? arks.find((c) => ask.checkIssued(c)) ?? arks[0];
      const chain = ark ? [vek, ask, ark] : [vek, ask];
      verifyChain(chain, anchors, now, `SEV-SNP ${want.toUpperCase()} chain`);
      const reported = decodeTcb(r.reportedTcbRaw, product);
      checkTcbBinding(vek, reported, product);
      if (want === 'vcek' && !r.maskChipKey) {
        const hw = hwId(vek);
        if (!hw) throw new PlatformError('BINDING_INVALID', 'SEV-SNP VCEK has no hwID extension');
        const chip = r.chipId.subarray(0, hw.length);
        if (!chip.equals(hw) || !r.chipId.subarray(hw.length).equals(Buffer.alloc(64 - hw.length))) throw new PlatformError('BINDING_INVALID', "SEV-SNP CHIP_ID differs from the VCEK's hwID");
      }
      const svn: Record<string, number> = { bootloader: reported.bootloader, tee: reported.tee, snp: reported.snp, microcode: reported.microcode, ...(reported.fmc !== undefined ? { fmc: reported.fmc } : {}), guest_svn: r.guestSvn };
      const status = await resolveTcbStatus(o.collateral, { platform: 'sev-snp', platformId: r.chipId.toString('hex'), svn });
      const hex = (b: Buffer) => b.toString('hex');
      return {
        platform: 'sev-snp',
        measurements: {
          measurement: hex(r.measurement),
          host_data: hex(r.hostData),
          id_key_digest: hex(r.idKeyDigest),
          author_key_digest: hex(r.authorKeyDigest),
          family_id: hex(r.familyId),
          image_id: hex(r.imageId),
          mr_boot: hex(r.measurement),
        },
        reportData: hex(r.reportData),
        tcb: { status, svn },
        debug: r.debugAllowed,
        insecure: false,
        extra: {
          report_version: r.version,
          product,
          signing_key: want,
          vmpl: r.vmpl,
          policy: r.policy.toString(16),
          chip_id: hex(r.chipId),
          report_id: hex(r.reportId),
        },
        checks: snpChecks({ report: r, signer: want, chain, hasProvider: o.collateral !== undefined, status }),
      };
    },
  };
}
