// SGX (DCAP quote v3) verifier: DCAP checks, then claims with SGX names, which
// are also Trustflow's (mr_enclave, mr_signer).
import { parseDcapQuote, parseSgxReportBody, TEE_SGX } from '../../core/dcap/quote.ts';
import { verifyDcapQuote } from '../../core/dcap/verify.ts';
import { PlatformError } from '../../errors.ts';
import type { CommonVerifierOptions, PlatformVerifier } from '../../core/plugin.ts';
import type { DcapVerifierOptions } from '../../core/dcap/verify.ts';
import type { Claims, Evidence, VerifyContext } from '../../core/types.ts';

export function parseSgxQuote(quote: Uint8Array) {
  const q = parseDcapQuote(quote);
  if (q.teeType !== TEE_SGX) throw new PlatformError('EVIDENCE_MALFORMED', `not an SGX quote (TEE type 0x${q.teeType.toString(16)})`);
  return { q, body: parseSgxReportBody(q.body) };
}

export function createSgxVerifier(o: DcapVerifierOptions & CommonVerifierOptions): PlatformVerifier {
  return {
    platform: 'sgx',
    parse: (evidence) => parseSgxQuote(evidence.quote),
    async verify(evidence: Evidence, ctx: VerifyContext): Promise<Claims> {
      const { q, body } = parseSgxQuote(evidence.quote);
      const svn = { isv_svn: body.isvSvn, isv_prod_id: body.isvProdId, config_svn: body.configSvn };
      const v = await verifyDcapQuote(q, { intelRootCaPems: o.intelRootCaPems, collateral: o.collateral, now: ctx.now ?? new Date(), platform: 'sgx', svn, auxCollateral: evidence.aux?.collateral !== undefined });
      return {
        platform: 'sgx',
        measurements: {
          mr_enclave: body.mrEnclave.toString('hex'),
          mr_signer: body.mrSigner.toString('hex'),
          config_id: body.configId.toString('hex'),
        },
        reportData: body.reportData.toString('hex'),
        tcb: { status: v.tcbStatus, svn: { ...svn, cpu_svn: body.cpuSvn.toString('hex'), qe_svn: v.qeSvn, ...(v.pceSvn !== undefined ? { pce_svn: v.pceSvn } : {}), ...(v.fmspc ? { fmspc: v.fmspc } : {}) } },
        debug: body.debug,
        insecure: false,
        extra: {
          quote_version: q.version,
          attributes: body.attributes.toString('hex'),
          misc_select: body.miscSelect,
          isv_prod_id: body.isvProdId,
          isv_svn: body.isvSvn,
          ...(v.fmspc ? { fmspc: v.fmspc } : {}),
          ...(v.advisoryIds?.length ? { tcb_advisories: v.advisoryIds.join(',') } : {}),
          ...(v.tcbDate ? { tcb_date: v.tcbDate } : {}),
        },
        checks: v.checks.toArray(),
      };
    },
  };
}
