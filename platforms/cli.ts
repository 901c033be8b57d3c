// `aenv verify`: what a data owner runs before trusting an app. Fetches (or
// reads) an attestation document / Trustflow GetRaCert response / raw evidence,
// verifies it against the expected measurements and prints the trusted keys.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseCliArgs } from '../foundation/cli-args.ts';
import { AppError } from '../foundation/errors.ts';
import { verifyAttestationDocument, verifyRaCertResponse } from './catalog/verify-attestation.ts';
import { decodeEvidence } from './catalog/evidence-codec.ts';
import { createEvidenceVerifier, createIntelCollateralProvider, PlatformError, type AppraisalPolicy, type EvidenceVerifierOptions } from './index.ts';

const USAGE = `usage: verify (--url <ra-proxy base URL> | --document <file> | --ra-cert <file> | --evidence <file>) [options]

  --url <base>           fetch <base>/.well-known/attestation with a fresh random nonce
                         (with --trustflow: POST <base>/RaProxy/GetRaCert instead)
  --trustflow            use Trustflow's GetRaCert form with --url
  --document <file>      a saved attestation document (needs --nonce)
  --ra-cert <file>       a saved GetRaCert JSON response (needs --nonce)
  --evidence <file>      raw evidence JSON {platform, quote, aux} (checks --report-data if given)
  --nonce <value>        the nonce the document/response was requested with
  --expect name=hex      expected measurement (repeatable; "a|b" allows several values)
  --policy <file>        JSON AppraisalPolicy (merged under --expect)
  --report-data <hex>    expected report data for --evidence
  --sim-key <file>       trust this sim signing public key (PEM); implies nothing else
  --allow-insecure       accept the sim platform (development only)
  --allow-debug          accept debug-mode TEEs
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

Exit status: 0 verified, 1 rejected (reason on stderr), 2 usage error.
`;

function read(path: string): string {
  return readFileSync(path, 'utf8');
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
  const sources = [values.url, values.document, values['ra-cert'], values.evidence].filter((x) => x !== undefined);
  if (sources.length !== 1) {
    process.stderr.write(`exactly one of --url, --document, --ra-cert, --evidence is required\n${USAGE}`);
    return 2;
  }
  if ((values.document || values['ra-cert']) && !values.nonce) {
    process.stderr.write(`--nonce is required with --document/--ra-cert\n${USAGE}`);
    return 2;
  }
  try {
    const policy: AppraisalPolicy = values.policy ? (JSON.parse(read(values.policy)) as AppraisalPolicy) : {};
    policy.measurements = { ...(policy.measurements ?? {}) };
    for (const e of values.expect ?? []) {
      const i = e.indexOf('=');
      if (i <= 0) throw new PlatformError('INVALID_INPUT', `--expect must be name=hex, got "${e}"`);
      policy.measurements[e.slice(0, i)] = e.slice(i + 1).split('|');
    }
    if (values['allow-insecure']) policy.allowInsecure = true;
    if (values['allow-debug']) policy.allowDebug = true;
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
    const verifier = createEvidenceVerifier(opts);

    let out: unknown;
    if (values.evidence) {
      const claims = await verifier.verify(decodeEvidence(read(values.evidence)), { now });
      if (values['report-data']) policy.reportData = values['report-data'];
      const r = verifier.appraise(claims, policy);
      if (!r.ok) throw new PlatformError('POLICY_REJECTED', `attestation rejected by policy: ${r.failures.join('; ')}`);
      out = { ok: true, claims };
    } else if (values['ra-cert'] || (values.url && values.trustflow)) {
      const nonce = values.nonce ?? randomBytes(16).toString('hex');
      const resp = values.url
        ? await (await fetch(new URL('/RaProxy/GetRaCert', values.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce }) })).json()
        : JSON.parse(read(values['ra-cert']!));
      const v = await verifyRaCertResponse(resp, { nonce, policy, verifier, now });
      const pub = v.publicKey.export({ format: 'jwk' });
      out = values.jwks ? { keys: [pub] } : { ok: true, claims: v.claims, cert: v.certPem, publicKeyJwk: pub };
    } else {
      const nonce = values.nonce ?? randomBytes(16).toString('base64url');
      const doc = values.url
        ? await (await fetch(new URL(`/.well-known/attestation?nonce=${encodeURIComponent(nonce)}`, values.url))).json()
        : JSON.parse(read(values.document!));
      const v = await verifyAttestationDocument(doc, { nonce, policy, verifier, now });
      out = values.jwks ? v.jwks : { ok: true, claims: v.claims, jwks: v.jwks, keySetDigest: v.keySetDigest.toString('hex') };
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } catch (e) {
    const code = e instanceof AppError ? `${e.code}: ` : '';
    process.stderr.write(`verify: rejected: ${code}${(e as Error).message}\n`);
    return 1;
  }
}

// Direct run (`node --import=tsx <this file> ...`); `aenv` imports main instead.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
