// TDX (quote v4 and v5) verifier: DCAP checks, then claims with TDX names and
// Trustflow aliases (mr_plat = MRSEAM, mr_boot = MRTD, mr_ta = RTMR3).
import { parseDcapQuote, parseTdxReportBody, TEE_TDX } from '../../core/dcap/quote.ts';
import { verifyDcapQuote } from '../../core/dcap/verify.ts';
import { PlatformError } from '../../errors.ts';
import type { CommonVerifierOptions, PlatformVerifier } from '../../core/plugin.ts';
import type { DcapVerifierOptions } from '../../core/dcap/verify.ts';
import type { Claims, Evidence, VerifyContext } from '../../core/types.ts';

export function parseTdxQuote(quote: Uint8Array) {
  const q = parseDcapQuote(quote);
  if (q.teeType !== TEE_TDX) throw new PlatformError('EVIDENCE_MALFORMED', `not a TDX quote (TEE type 0x${q.teeType.toString(16)})`);
  return { q, body: parseTdxReportBody(q.body) };
}

export function createTdxVerifier(o: DcapVerifierOptions & CommonVerifierOptions): PlatformVerifier {
  return {
    platform: 'tdx',
    parse: (evidence) => parseTdxQuote(evidence.quote),
    async verify(evidence: Evidence, ctx: VerifyContext): Promise<Claims> {
      const { q, body } = parseTdxQuote(evidence.quote);
      const svn: Record<string, number | string> = { tee_tcb_svn: body.teeTcbSvn.toString('hex'), tee_tcb_svn_major: body.teeTcbSvn[1]!, tee_tcb_svn_minor: body.teeTcbSvn[0]! };
      const tdx = { teeTcbSvn: body.teeTcbSvn.toString('hex'), ...(body.teeTcbSvn2 ? { teeTcbSvn2: body.teeTcbSvn2.toString('hex') } : {}), mrSignerSeam: body.mrSignerSeam.toString('hex'), seamAttributes: body.seamAttributes.toString('hex') };
      const v = await verifyDcapQuote(q, { intelRootCaPems: o.intelRootCaPems, collateral: o.collateral, now: ctx.now ?? new Date(), platform: 'tdx', svn, auxCollateral: evidence.aux?.collateral !== undefined, tdx });
      // Set by the collateral (TCB Info's TDX module identities) when it was evaluated.
      if (!v.checks.get('tdx-module-identity')) v.checks.notChecked('tdx-module-identity', 'no TDX module identity collateral: MRSIGNERSEAM and SEAM attributes are not judged');
      const hex = (b: Buffer) => b.toString('hex');
      const measurements: Record<string, string> = {
        mr_td: hex(body.mrTd),
        mr_seam: hex(body.mrSeam),
        mr_signer_seam: hex(body.mrSignerSeam),
        mr_config_id: hex(body.mrConfigId),
        mr_owner: hex(body.mrOwner),
        mr_owner_config: hex(body.mrOwnerConfig),
        rtmr0: hex(body.rtmr[0]!),
        rtmr1: hex(body.rtmr[1]!),
        rtmr2: hex(body.rtmr[2]!),
        rtmr3: hex(body.rtmr[3]!),
        mr_plat: hex(body.mrSeam),
        mr_boot: hex(body.mrTd),
        mr_ta: hex(body.rtmr[3]!),
      };
      if (body.mrServiceTd) measurements.mr_service_td = hex(body.mrServiceTd);
      return {
        platform: 'tdx',
        measurements,
        reportData: hex(body.reportData),
        tcb: { status: v.tcbStatus, svn: { ...svn, qe_svn: v.qeSvn, ...(v.pceSvn !== undefined ? { pce_svn: v.pceSvn } : {}), ...(v.fmspc ? { fmspc: v.fmspc } : {}) } },
        debug: body.debug,
        insecure: false,
        extra: {
          quote_version: q.version,
          body_type: q.bodyType,
          td_attributes: hex(body.tdAttributes),
          xfam: hex(body.xfam),
          tee_tcb_svn: hex(body.teeTcbSvn),
          ...(v.fmspc ? { fmspc: v.fmspc } : {}),
          ...(v.advisoryIds?.length ? { tcb_advisories: v.advisoryIds.join(',') } : {}),
          ...(v.tcbDate ? { tcb_date: v.tcbDate } : {}),
        },
        checks: v.checks.toArray(),
      };
    },
  };
}
