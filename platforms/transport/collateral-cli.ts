// `aenv collateral`: fills and inspects the offline Intel collateral directory
// (format: collateral-dir.ts, docs/platforms.md "Intel collateral") that
// `aenv verify --collateral DIR` and createCollateralDirProvider read.
//   collateral fetch --out DIR (--pccs URL | --pcs) [--fmspc HEX | --quote FILE]...
//   collateral show DIR
import { readFileSync } from 'node:fs';
import { parseCliArgs, USAGE_ERROR } from '../../foundation/cli-args.ts';
import { AppError } from '../../foundation/errors.ts';
import { parseCert, pemBlocks } from '../core/cert-chain.ts';
import { verifyIntelCollateralDocuments } from '../core/dcap/intel-collateral.ts';
import { pckFacts } from '../core/dcap/pck.ts';
import { parseDcapQuote } from '../core/dcap/quote.ts';
import { PlatformError } from '../errors.ts';
import { readCollateralDir, writeCollateralDir, type DcapTee } from './collateral-dir.ts';
import { fetchIntelCollateral, INTEL_PCS_URL } from './collateral-fetch.ts';

const USAGE = `usage: collateral fetch --out <dir> (--pccs <url> | --pcs) [options]
       collateral show <dir> [--now <iso time>] [--root-ca <file>]

fetch: downloads Intel DCAP collateral (API v4) and writes it to <dir> in the
offline collateral format (docs/platforms.md, "Intel collateral"), after verifying
every document to the Intel SGX Root CA. For machines that reach Intel PCS or a PCCS;
copy <dir> to verifiers that do not, and point them at it (aenv verify --collateral <dir>).

  --out <dir>            the collateral directory (created; files replaced one by one, atomically)
  --pccs <url>           a PCCS base URL, e.g. https://pccs.example:8081
  --pcs                  Intel PCS (${INTEL_PCS_URL}); --pcs-url <url> for a mirror
  --fmspc <hex>          a platform's FMSPC (repeatable)
  --quote <file>         take the FMSPC from a DCAP quote (raw bytes, or evidence JSON {"quote": base64}) (repeatable)
                         (neither --fmspc nor --quote: every FMSPC the service lists)
  --tee <sgx|tdx>        only this TEE's TCB Info and QE Identity (repeatable; default both)
  --update <standard|early>  TCB update type (default standard)
  --root-ca-crl-url <url>    where the Intel SGX Root CA CRL is (PCS: Intel's CRL distribution point; PCCS: its /rootcacrl)
  --tls-ca <file>        CA certificate(s) (PEM) for the service's TLS certificate
  --tls-insecure         accept any TLS certificate (the collateral itself is verified to the Intel root)
  --root-ca <file>       Intel SGX Root CA (PEM) instead of the pinned one (private PKIs, tests)
  --now <iso time>       verify the collateral at this time (default now)
  --help                 this text

show: verifies each document in <dir> and prints what it is and when it expires.

Exit status: 0 done, 1 failed (reason on stderr), 2 usage error.
`;

function fmspcOfQuote(path: string): { fmspc: string; tee: DcapTee } {
  const raw = readFileSync(path);
  let bytes: Buffer = raw;
  if (raw[0] === 0x7b) {
    const j = JSON.parse(raw.toString('utf8')) as { quote?: string; evidence?: { quote?: string } };
    const b64 = j.quote ?? j.evidence?.quote;
    if (typeof b64 !== 'string') throw new PlatformError('INVALID_INPUT', `${path}: JSON without a base64 "quote"`);
    bytes = Buffer.from(b64, 'base64');
  }
  const q = parseDcapQuote(bytes);
  const pck = parseCert(pemBlocks(q.cert.pckChainPem)[0] ?? '', `${path}: PCK certificate`);
  const fmspc = pckFacts(pck).fmspc;
  if (!fmspc) throw new PlatformError('INVALID_INPUT', `${path}: the PCK certificate carries no FMSPC`);
  return { fmspc, tee: q.teeType === 0x81 ? 'tdx' : 'sgx' };
}

function fail(e: unknown): number {
  const code = e instanceof AppError ? `${e.code}: ` : '';
  process.stderr.write(`collateral: ${code}${(e as Error).message}\n`);
  return 1;
}

function parseNow(v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new PlatformError('INVALID_INPUT', `--now is not a date: ${v}`);
  return d;
}

export async function collateralMain(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub === 'show') {
    const parsed = parseCliArgs(rest, { options: { now: { type: 'string' }, 'root-ca': { type: 'string' }, help: { type: 'boolean', default: false } }, allowPositionals: true, strict: true }, USAGE);
    if (typeof parsed === 'number') return parsed;
    const dir = parsed.positionals[0];
    if (!dir || parsed.positionals.length !== 1) {
      process.stderr.write(`collateral show: one directory is required\n${USAGE}`);
      return USAGE_ERROR;
    }
    try {
      const set = await readCollateralDir(dir);
      const docs = verifyIntelCollateralDocuments({ ...set, qeIdentities: set.qeIdentities, ...(parsed.values['root-ca'] ? { rootCaPems: [readFileSync(parsed.values['root-ca'], 'utf8')] } : {}) }, parseNow(parsed.values.now) ?? new Date());
      if (set.manifest) process.stdout.write(`${dir}: from ${set.manifest.source}, fetched ${set.manifest.fetchedAt}, FMSPCs ${set.manifest.fmspcs.join(' ')}\n`);
      for (const d of docs) process.stdout.write(`  ${d.kind.padEnd(11)} ${d.name.padEnd(28)} issued ${d.issued}  next update ${d.nextUpdate}${d.tcbEvaluationDataNumber !== undefined ? `  tcbEvaluationDataNumber ${d.tcbEvaluationDataNumber}` : ''}\n`);
      const earliest = docs.map((d) => d.nextUpdate).sort()[0];
      if (earliest) process.stdout.write(`valid until ${earliest} (the earliest next update): fetch again before then\n`);
      return 0;
    } catch (e) {
      return fail(e);
    }
  }
  if (sub !== 'fetch') {
    process.stderr.write(`${sub ? `collateral: unknown subcommand "${sub}"\n` : ''}${USAGE}`);
    return USAGE_ERROR;
  }
  const parsed = parseCliArgs(
    rest,
    {
      options: {
        out: { type: 'string' },
        pccs: { type: 'string' },
        pcs: { type: 'boolean', default: false },
        'pcs-url': { type: 'string' },
        fmspc: { type: 'string', multiple: true },
        quote: { type: 'string', multiple: true },
        tee: { type: 'string', multiple: true },
        update: { type: 'string' },
        'root-ca-crl-url': { type: 'string' },
        'tls-ca': { type: 'string' },
        'tls-insecure': { type: 'boolean', default: false },
        'root-ca': { type: 'string' },
        now: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const usage = (why: string) => {
    process.stderr.write(`collateral fetch: ${why}\n${USAGE}`);
    return USAGE_ERROR;
  };
  if (!v.out) return usage('--out is required');
  if ((v.pccs ? 1 : 0) + (v.pcs || v['pcs-url'] ? 1 : 0) !== 1) return usage('exactly one of --pccs <url> or --pcs is required');
  const tees = (v.tee ?? []) as string[];
  if (tees.some((t) => t !== 'sgx' && t !== 'tdx')) return usage('--tee is sgx or tdx');
  if (v.update !== undefined && v.update !== 'standard' && v.update !== 'early') return usage('--update is standard or early');
  try {
    const fmspcs = [...(v.fmspc ?? []).map((f) => f.toLowerCase()), ...(v.quote ?? []).map((q) => fmspcOfQuote(q).fmspc)];
    const pcs = !v.pccs;
    const baseUrl = v.pccs ?? v['pcs-url'] ?? INTEL_PCS_URL;
    const r = await fetchIntelCollateral({
      baseUrl,
      pcs,
      fmspcs,
      ...(tees.length ? { tees: tees as DcapTee[] } : {}),
      ...(v.update ? { update: v.update as 'standard' | 'early' } : {}),
      ...(v['root-ca-crl-url'] ? { rootCaCrlUrl: v['root-ca-crl-url'] } : {}),
      ...(v['tls-ca'] ? { tlsCaPem: readFileSync(v['tls-ca'], 'utf8') } : {}),
      tlsInsecure: v['tls-insecure'],
      ...(v['root-ca'] ? { rootCaPems: [readFileSync(v['root-ca'], 'utf8')] } : {}),
      ...(v.now ? { now: parseNow(v.now) } : {}),
    });
    const files = await writeCollateralDir(v.out, r.bundle);
    process.stdout.write(`collateral from ${baseUrl} verified and written to ${v.out} (${files.length} files)\n`);
    for (const d of r.documents) process.stdout.write(`  ${d.kind.padEnd(11)} ${d.name.padEnd(28)} next update ${d.nextUpdate}\n`);
    for (const a of r.absent) process.stdout.write(`  no TCB Info for ${a} (the service has none)\n`);
    return 0;
  } catch (e) {
    return fail(e);
  }
}
