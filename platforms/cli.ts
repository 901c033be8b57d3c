// `aenv verify`: what a data owner runs before trusting an app. Fetches (or
// reads) an attestation document / Trustflow GetRaCert response / evidence (JSON,
// or a raw report with its certificates as files), verifies it against the
// expected measurements, prints the verdict (what was checked, what was not,
// warnings on stderr) and the trusted keys.
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseCliArgs, USAGE_ERROR } from '../foundation/cli-args.ts';
import { AppError } from '../foundation/errors.ts';
import { verifyAttestationDocument, verifyRaCertResponse } from './catalog/verify-attestation.ts';
import { decodeEvidence } from './catalog/evidence-codec.ts';
import { addCsvChain, addSnpFiles, checkCsvInputs, checkSnpInputs, evidenceFromReportFile, explainSnpFailure, isUsageError, parseReportDataFlag, usageError, type InputFile, type InputSources } from './catalog/cli-inputs.ts';
import { createCollateralDirProvider } from './transport/collateral-dir.ts';
import { checkWarnings } from './core/checks.ts';
import { createEvidenceVerifier, createIntelCollateralProvider, PlatformError, type AppraisalPolicy, type Claims, type Evidence, type EvidenceVerifierOptions, type VerificationCheck } from './index.ts';

const USAGE = `usage: verify (--url <ra-proxy base URL> | --document <file> | --ra-cert <file> | --evidence <file>) [options]
       verify --platform <p> --report <file> [--vcek <file> | --vlek <file>] [--chain <file>] [--collateral <dir>] [options]

  --url <base>           fetch <base>/.well-known/attestation with a fresh random nonce
                         (with --trustflow: POST <base>/RaProxy/GetRaCert instead)
  --trustflow            use Trustflow's GetRaCert form with --url
  --document <file>      a saved attestation document (needs --nonce)
  --ra-cert <file>       a saved GetRaCert JSON response (needs --nonce)
  --evidence <file>      evidence JSON {platform, quote, aux} (checks --report-data if given)
  --report <file>        a report/quote file: raw bytes (with --platform) or evidence JSON
  --platform <p>         platform of a raw --report: tdx, sgx, sev-snp, csv, sim
  --vcek <file>          sev-snp: the chip's VCEK certificate (DER or PEM, AMD KDS)
  --vlek <file>          sev-snp: the VLEK certificate, for a VLEK-signed report
  --chain <file>         sev-snp: AMD's ask+ark file (one PEM with both, KDS cert_chain);
                         csv: the chip's HSK+CEK file (hsk_cek.cert)
  --collateral <dir>     TCB collateral from a directory (a PCCS / KDS cache on disk)
  --nonce <value>        the nonce the document/response was requested with
  --expect name=hex      expected measurement (repeatable; "a|b" allows several values)
  --policy <file>        JSON AppraisalPolicy (merged under --expect)
  --report-data <hex>    expected report data for --evidence / --report (1..64 bytes of hex)
  --sim-key <file>       trust this sim signing public key (PEM); implies nothing else
  --allow-insecure       accept the sim platform (development only)
  --allow-debug          accept debug-mode TEEs
  --allow-unknown-tcb    accept TCB status Unknown (no collateral established the TCB level)
  --intel-root <file>    Intel SGX Root CA (PEM) instead of the pinned one
  --amd-ark <file>       AMD ARK certificate (PEM), repeatable
  --amd-intermediate <file>  AMD ASK/ASVK certificate (PEM), repeatable
  --hygon-hrk <file>     Hygon root key certificate (binary, 832 bytes)
  --csv-allow-pek-only   accept CSV evidence whose PEK cannot be traced to the HRK
  --tcb-info <file>      Intel TCB Info (PCS/PCCS v4 response body), with --tcb-info-chain
  --tcb-info-chain <file>  its TCB-Info-Issuer-Chain (PEM)
  --tpm-ak <file>        trusted TPM AK public key (PEM), repeatable
  --now <iso time>       verification time (default: now)
  --jwks                 print only the trusted JWKS (or the RA cert's public key)
  --help                 this text

Prints {ok, claims, checks, warnings, ...}: checks lists what was checked and what
was not; each warning (a check that is not a plain pass) goes to stderr as well.
Exit status: 0 verified, 1 rejected (reason on stderr), 2 usage error.
`;

function read(path: string): string {
  return readFileSync(path, 'utf8');
}

/** A file of a flag added with --report (and after): unreadable is an error with a code naming the flag. */
function readInput(flag: string, path: string): InputFile {
  try {
    return { flag, path, bytes: readFileSync(path) };
  } catch (cause) {
    throw new PlatformError('INVALID_INPUT', `${flag} ${path}: cannot read the file (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`, { cause });
  }
}

function warn(checks: readonly VerificationCheck[] | undefined): string[] {
  const warnings = checkWarnings(checks ?? []);
  for (const w of warnings) process.stderr.write(`verify: warning: ${w}\n`);
  return warnings;
}

/** Evidence from --evidence / --report plus the certificate files, checked for what is missing (named by flag). */
function evidenceFromFiles(values: Record<string, string | boolean | string[] | undefined>, sources: InputSources): Evidence {
  const str = (k: string) => values[k] as string | undefined;
  const ev: Evidence = str('evidence') !== undefined ? decodeEvidence(read(str('evidence')!)) : evidenceFromReportFile(readInput('--report', str('report')!), str('platform'));
  if (str('evidence') !== undefined && str('platform') !== undefined && str('platform') !== ev.platform) throw usageError(`--platform ${str('platform')} differs from the platform "${ev.platform}" of the evidence in --evidence ${str('evidence')}`);
  const files = {
    vcek: str('vcek') !== undefined ? readInput('--vcek', str('vcek')!) : undefined,
    vlek: str('vlek') !== undefined ? readInput('--vlek', str('vlek')!) : undefined,
    chain: str('chain') !== undefined ? readInput('--chain', str('chain')!) : undefined,
  };
  if (ev.platform === 'sev-snp') {
    addSnpFiles(ev, files, sources);
    checkSnpInputs(ev, files, false);
  } else {
    for (const f of [files.vcek, files.vlek]) if (f) throw usageError(`${f.flag} is for sev-snp evidence; this evidence is ${ev.platform}`);
    if (files.chain && ev.platform === 'csv') addCsvChain(ev, files.chain, sources);
    else if (files.chain) throw usageError(`--chain does not apply to ${ev.platform} evidence${ev.platform === 'tdx' || ev.platform === 'sgx' ? ': the PCK chain travels inside the DCAP quote (use --intel-root for another root)' : ''}`);
  }
  return ev;
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(
    argv,
    {
      options: {
        url: { type: 'string' },
        trustflow: { type: 'boolean', default: false },
        document: { type: 'string' },
        'ra-cert': { type: 'string' },
        evidence: { type: 'string' },
        report: { type: 'string' },
        platform: { type: 'string' },
        vcek: { type: 'string' },
        vlek: { type: 'string' },
        chain: { type: 'string' },
        collateral: { type: 'string' },
        'allow-unknown-tcb': { type: 'boolean', default: false },
        nonce: { type: 'string' },
        expect: { type: 'string', multiple: true },
        policy: { type: 'string' },
        'report-data': { type: 'string' },
        'sim-key': { type: 'string', multiple: true },
        'allow-insecure': { type: 'boolean', default: false },
        'allow-debug': { type: 'boolean', default: false },
        'intel-root': { type: 'string' },
        'amd-ark': { type: 'string', multiple: true },
        'tpm-ak': { type: 'string', multiple: true },
        'amd-intermediate': { type: 'string', multiple: true },
        'hygon-hrk': { type: 'string' },
        'csv-allow-pek-only': { type: 'boolean', default: false },
        'tcb-info': { type: 'string' },
        'tcb-info-chain': { type: 'string' },
        now: { type: 'string' },
        jwks: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const inputs = [values.url, values.document, values['ra-cert'], values.evidence, values.report].filter((x) => x !== undefined);
  if (inputs.length !== 1) {
    process.stderr.write(`exactly one of --url, --document, --ra-cert, --evidence, --report is required\n${USAGE}`);
    return 2;
  }
  if ((values.document || values['ra-cert']) && !values.nonce) {
    process.stderr.write(`--nonce is required with --document/--ra-cert\n${USAGE}`);
    return 2;
  }
  const fromFiles = values.evidence !== undefined || values.report !== undefined;
  let checksOnReject: readonly VerificationCheck[] | undefined;
  try {
    let reportData: string | undefined;
    if (values['report-data'] !== undefined) {
      if (!fromFiles) throw usageError('--report-data applies to --evidence and --report (documents and GetRaCert responses bind --nonce instead)');
      reportData = parseReportDataFlag(values['report-data']);
    }
    for (const flag of ['platform', 'vcek', 'vlek', 'chain'] as const) {
      if (values[flag] !== undefined && !fromFiles) throw usageError(`--${flag} applies to --report and --evidence`);
    }
    if (values.vcek !== undefined && values.vlek !== undefined) throw usageError('--vcek and --vlek exclude each other: a report is signed by one of them');
    if (values.collateral !== undefined && (values['tcb-info'] || values['tcb-info-chain'])) throw usageError('--collateral and --tcb-info are two sources of the same collateral: pass one');
    const policy: AppraisalPolicy = values.policy ? (JSON.parse(read(values.policy)) as AppraisalPolicy) : {};
    policy.measurements = { ...(policy.measurements ?? {}) };
    for (const e of values.expect ?? []) {
      const i = e.indexOf('=');
      if (i <= 0) throw new PlatformError('INVALID_INPUT', `--expect must be name=hex, got "${e}"`);
      policy.measurements[e.slice(0, i)] = e.slice(i + 1).split('|');
    }
    if (values['allow-insecure']) policy.allowInsecure = true;
    if (values['allow-debug']) policy.allowDebug = true;
    if (values['allow-unknown-tcb']) policy.allowUnknownTcb = true;
    const now = values.now ? new Date(values.now) : undefined;
    if (now && Number.isNaN(now.getTime())) throw new PlatformError('INVALID_INPUT', `--now is not a date: ${values.now}`);
    const opts: EvidenceVerifierOptions = {
      trustedSimKeys: (values['sim-key'] ?? []).map(read),
      amdArkPems: (values['amd-ark'] ?? []).map(read),
      tpmTrustedAkPems: (values['tpm-ak'] ?? []).map(read),
    };
    if (values['intel-root']) opts.intelRootCaPems = [read(values['intel-root'])];
    if (values['amd-intermediate']) opts.amdIntermediatePems = values['amd-intermediate'].map(read);
    if (values['hygon-hrk']) opts.hygonHrk = readFileSync(values['hygon-hrk']);
    if (values['csv-allow-pek-only']) opts.csvAllowPekOnly = true;
    if (values['tcb-info'] || values['tcb-info-chain']) {
      if (!values['tcb-info'] || !values['tcb-info-chain']) throw new PlatformError('INVALID_INPUT', '--tcb-info and --tcb-info-chain go together');
      opts.collateral = createIntelCollateralProvider({ tcbInfos: [{ tcbInfoJson: read(values['tcb-info']), issuerChainPem: read(values['tcb-info-chain']) }], rootCaPems: opts.intelRootCaPems });
    }
    if (values.collateral !== undefined) {
      let isDir = false;
      try {
        isDir = statSync(values.collateral).isDirectory();
      } catch {
        /* reported below */
      }
      if (!isDir) throw usageError(`--collateral ${values.collateral} is not a directory (write one with \`aenv collateral fetch --out DIR\`)`);
      opts.collateral = createCollateralDirProvider(values.collateral, opts.intelRootCaPems ? { rootCaPems: opts.intelRootCaPems } : {});
    }
    const verifier = createEvidenceVerifier(opts);

    let out: unknown;
    if (fromFiles) {
      const sources: InputSources = {};
      const evidence = evidenceFromFiles(values, sources);
      if (evidence.platform === 'csv') {
        let chipSn: string | undefined;
        try {
          chipSn = (verifier.parse(evidence) as { chipSn?: string }).chipSn;
        } catch {
          /* the verifier reports a malformed report */
        }
        checkCsvInputs(evidence, { hasHrk: opts.hygonHrk !== undefined, allowPekOnly: opts.csvAllowPekOnly === true, hasCertProvider: false, chipSn });
      }
      let claims: Claims;
      try {
        claims = await verifier.verify(evidence, { now });
      } catch (e) {
        const why = e instanceof PlatformError && evidence.platform === 'sev-snp' ? explainOrUndefined(e, evidence, sources) : undefined;
        if (why) throw new PlatformError((e as PlatformError).code, why, { cause: e, details: { verifier: (e as Error).message } });
        throw e;
      }
      const warnings = warn(claims.checks);
      if (reportData !== undefined) policy.reportData = reportData;
      const r = verifier.appraise(claims, policy);
      if (!r.ok) throw new PlatformError('POLICY_REJECTED', `attestation rejected by policy: ${r.failures.join('; ')}`);
      out = { ok: true, claims, checks: claims.checks, warnings };
    } else if (values['ra-cert'] || (values.url && values.trustflow)) {
      const nonce = values.nonce ?? randomBytes(16).toString('hex');
      const resp = values.url
        ? await (await fetch(new URL('/RaProxy/GetRaCert', values.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce }) })).json()
        : JSON.parse(read(values['ra-cert']!));
      const v = await verifyRaCertResponse(resp, { nonce, policy, verifier, now }).catch((e: unknown) => {
        checksOnReject = (e as AppError).details?.checks as VerificationCheck[] | undefined;
        throw e;
      });
      const warnings = warn(v.claims.checks);
      const pub = v.publicKey.export({ format: 'jwk' });
      out = values.jwks ? { keys: [pub] } : { ok: true, claims: v.claims, checks: v.claims.checks, warnings, cert: v.certPem, publicKeyJwk: pub };
    } else {
      const nonce = values.nonce ?? randomBytes(16).toString('base64url');
      const doc = values.url
        ? await (await fetch(new URL(`/.well-known/attestation?nonce=${encodeURIComponent(nonce)}`, values.url))).json()
        : JSON.parse(read(values.document!));
      const v = await verifyAttestationDocument(doc, { nonce, policy, verifier, now }).catch((e: unknown) => {
        checksOnReject = (e as AppError).details?.checks as VerificationCheck[] | undefined;
        throw e;
      });
      const warnings = warn(v.claims.checks);
      out = values.jwks ? v.jwks : { ok: true, claims: v.claims, checks: v.claims.checks, warnings, jwks: v.jwks, keySetDigest: v.keySetDigest.toString('hex') };
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } catch (e) {
    if (isUsageError(e)) {
      process.stderr.write(`verify: ${(e as PlatformError).code}: ${(e as Error).message}\n${USAGE}`);
      return USAGE_ERROR;
    }
    if (checksOnReject) warn(checksOnReject);
    const code = e instanceof AppError ? `${e.code}: ` : '';
    process.stderr.write(`verify: rejected: ${code}${(e as Error).message}\n`);
    return 1;
  }
}

/** A flag-named reason for a failed SEV-SNP verification of files, or undefined (the verifier's own stands). */
function explainOrUndefined(e: PlatformError, ev: Evidence, sources: InputSources): string | undefined {
  try {
    return explainSnpFailure(e, ev, sources);
  } catch {
    return undefined;
  }
}

// Direct run (`node --import=tsx <this file> ...`); `aenv` imports main instead.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
