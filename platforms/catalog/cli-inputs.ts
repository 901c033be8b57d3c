// The files a data owner hands `aenv verify` (platforms/cli.ts): a report or
// quote as raw bytes or as a JSON evidence file, VCEK/VLEK and AMD's ask+ark
// chain as PEM or DER, Hygon's HSK+CEK file. Formats are detected where that is
// unambiguous; every error has a code and names the flag to use, because the
// user knows flags, not aux keys. Reading the files is the CLI's part: these
// functions take bytes.
import { X509Certificate } from 'node:crypto';
import { parseCert, pemBlocks } from '../core/cert-chain.ts';
import { PlatformError } from '../errors.ts';
import { CA_CERT_SIZE, CSV_CERT_SIZE } from '../plugins/csv/certs.ts';
import { parseCertTable } from '../plugins/sev-snp/cert-table.ts';
import { parseSnpReport } from '../plugins/sev-snp/report.ts';
import { verifySnpReportSignature } from '../plugins/sev-snp/verifier.ts';
import type { Evidence } from '../core/types.ts';
import { decodeEvidence } from './evidence-codec.ts';
import { isPlatformName, PLATFORM_NAMES } from './index.ts';

/** A file given on the command line: the flag it came with, its path and its bytes. */
export interface InputFile {
  flag: string;
  path: string;
  bytes: Buffer;
}

/** A usage error (exit 2) that still carries a code. */
export function usageError(message: string): PlatformError {
  return new PlatformError('INVALID_INPUT', message, { details: { usage: true } });
}

export function isUsageError(e: unknown): boolean {
  return e instanceof PlatformError && e.details?.usage === true;
}

const at = (f: InputFile) => `${f.flag} ${f.path}`;

/** --report-data: 1..64 bytes of hex (an optional 0x); anything else, the empty string too, is a usage error. */
export function parseReportDataFlag(v: string): string {
  const h = v.trim().replace(/^0x/i, '');
  if (!/^([0-9a-fA-F]{2}){1,64}$/.test(h)) throw usageError(`--report-data must be 1 to 64 bytes of hex (e.g. --report-data 00ff..), got ${v === '' ? 'an empty value' : JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`);
  return h.toLowerCase();
}

function utf8(b: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}

/**
 * --report: a JSON evidence file ({platform, quote, aux}) or the raw report/quote
 * bytes. JSON when the file is UTF-8 text starting with "{" (a raw report is never
 * valid UTF-8 throughout); raw bytes need --platform.
 */
export function evidenceFromReportFile(f: InputFile, platform: string | undefined): Evidence {
  const text = utf8(f.bytes);
  if (text !== undefined && text.trimStart().startsWith('{')) {
    let ev: Evidence;
    try {
      ev = decodeEvidence(text);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new PlatformError(PlatformError.is(e) ? e.code : 'EVIDENCE_MALFORMED', `${at(f)} is a JSON file but not valid evidence {platform, quote, aux}: ${msg}`, { cause: e });
    }
    if (platform !== undefined && platform !== ev.platform) throw usageError(`--platform ${platform} differs from the platform "${ev.platform}" of the evidence in ${at(f)}`);
    return ev;
  }
  if (platform === undefined) throw usageError(`${at(f)} holds raw bytes: say which platform they are with --platform (${PLATFORM_NAMES.filter((n) => n !== 'tpm').join(', ')})`);
  if (!isPlatformName(platform)) throw usageError(`--platform must be one of ${PLATFORM_NAMES.join(', ')}, got "${platform}"`);
  if (platform === 'tpm') throw usageError(`a raw TPM quote cannot be verified alone (its signature and PCR values travel beside it): pass a JSON evidence file {platform: "tpm", quote, aux: {signature, pcrs, ak_public}} with --report or --evidence`);
  if (f.bytes.length === 0) throw new PlatformError('EVIDENCE_MALFORMED', `${at(f)} is empty`);
  return { platform, quote: new Uint8Array(f.bytes) };
}

/** PEM (one or more CERTIFICATE blocks) or DER (one certificate): X.509 certificates, or an error naming the flag. */
export function certsFromFile(f: InputFile, what: string): X509Certificate[] {
  const text = utf8(f.bytes);
  const blocks = text !== undefined ? pemBlocks(text) : [];
  if (text !== undefined && text.includes('-----BEGIN')) {
    if (blocks.length === 0) throw new PlatformError('EVIDENCE_MALFORMED', `${at(f)} is PEM but holds no CERTIFICATE block (the ${what} must be an X.509 certificate, PEM or DER)`);
    return blocks.map((b, i) => certOrFlagError(b, f, `${what}${blocks.length > 1 ? ` (PEM block ${i + 1})` : ''}`));
  }
  if (f.bytes[0] !== 0x30) throw new PlatformError('EVIDENCE_MALFORMED', `${at(f)} is neither PEM nor DER: the ${what} must be an X.509 certificate (a DER file starts with byte 0x30)`);
  return [certOrFlagError(f.bytes, f, what)];
}

function certOrFlagError(data: string | Buffer, f: InputFile, what: string): X509Certificate {
  try {
    return parseCert(data, what);
  } catch (cause) {
    throw new PlatformError('EVIDENCE_MALFORMED', `${at(f)} is not a valid X.509 certificate: the ${what} file is corrupted or truncated (PEM or DER expected)`, { cause });
  }
}

function cn(c: X509Certificate): string {
  return /CN=([^\n]+)/.exec(c.subject)?.[1] ?? c.subject.replace(/\n/g, ', ');
}

/** Where each aux entry added from the command line came from (aux key -> file), for messages. */
export type InputSources = Partial<Record<string, InputFile>>;

function put(ev: Evidence, key: string, value: string, f: InputFile, sources: InputSources): void {
  if (ev.aux?.[key] !== undefined) throw usageError(`the evidence already carries aux.${key}; ${at(f)} would replace it (drop one of them)`);
  ev.aux = { ...(ev.aux ?? {}), [key]: value };
  sources[key] = f;
}

/**
 * SEV-SNP: --vcek / --vlek (PEM or DER) and --chain (AMD's ask+ark file as KDS
 * serves it: one PEM with both; or the certificates as separate PEM blocks / one
 * DER). Certificates of the chain go to the evidence's aux (ask/asvk/ark): an ARK
 * there is trusted only when pinned, as for any evidence.
 */
export function addSnpFiles(ev: Evidence, files: { vcek?: InputFile; vlek?: InputFile; chain?: InputFile }, sources: InputSources): void {
  for (const key of ['vcek', 'vlek'] as const) {
    const f = files[key];
    if (!f) continue;
    const certs = certsFromFile(f, key.toUpperCase());
    if (certs.length !== 1) throw new PlatformError('EVIDENCE_MALFORMED', `${at(f)} holds ${certs.length} certificates; ${f.flag} takes the one ${key.toUpperCase()} (AMD's ask+ark go to --chain)`);
    put(ev, key, certs[0]!.raw.toString('base64'), f, sources);
  }
  const f = files.chain;
  if (!f) return;
  const certs = certsFromFile(f, 'AMD certificate chain');
  const roles: Record<'ask' | 'asvk' | 'ark', X509Certificate[]> = { ask: [], asvk: [], ark: [] };
  for (const c of certs) {
    const selfSigned = c.subject === c.issuer && c.checkIssued(c);
    if (selfSigned) roles.ark.push(c);
    else if (/VLEK/.test(cn(c))) roles.asvk.push(c);
    else roles.ask.push(c);
  }
  for (const [role, list] of Object.entries(roles) as Array<['ask' | 'asvk' | 'ark', X509Certificate[]]>) {
    if (list.length > 1) throw new PlatformError('EVIDENCE_MALFORMED', `${at(f)} holds ${list.length} ${role.toUpperCase()} certificates (${list.map(cn).join(', ')}); --chain takes one product's ask+ark`);
    if (list.length === 1) put(ev, role, list[0]!.toString(), f, sources);
  }
}

/**
 * CSV: --chain is the chip's HSK+CEK as Hygon's KDS serves it (hsk_cek.cert,
 * 832 + 2084 bytes, Hygon's binary format, not X.509).
 */
export function addCsvChain(ev: Evidence, f: InputFile, sources: InputSources): void {
  if (f.bytes.length !== CA_CERT_SIZE + CSV_CERT_SIZE) throw new PlatformError('EVIDENCE_MALFORMED', `${at(f)}: for csv, --chain takes the chip's HSK+CEK file (hsk_cek.cert, ${CA_CERT_SIZE + CSV_CERT_SIZE} bytes, Hygon's binary format); it has ${f.bytes.length} bytes`);
  put(ev, 'hsk_cek', f.bytes.toString('base64'), f, sources);
}

function snpVek(ev: Evidence): { key: 'vcek' | 'vlek'; cert?: X509Certificate } | undefined {
  let r;
  try {
    r = parseSnpReport(ev.quote);
  } catch {
    return undefined; // the verifier reports it
  }
  if (r.signingKey === 'none') return undefined;
  const key = r.signingKey;
  let src = ev.aux?.[key];
  if (src === undefined && ev.aux?.cert_table) {
    try {
      src = parseCertTable(Buffer.from(ev.aux.cert_table, 'base64'))[key]?.toString('base64');
    } catch {
      return { key };
    }
  }
  if (src === undefined) return { key };
  try {
    const blocks = pemBlocks(src);
    return { key, cert: new X509Certificate(blocks.length > 0 ? blocks[0]! : Buffer.from(src, 'base64')) };
  } catch {
    return { key };
  }
}

/**
 * Before verifying SEV-SNP evidence from files: the report names its signing key
 * (VCEK or VLEK); when the evidence does not carry it and no provider can give
 * it, say which flag gives it.
 */
export function checkSnpInputs(ev: Evidence, files: { vcek?: InputFile; vlek?: InputFile }, hasVcekProvider: boolean): void {
  const v = snpVek(ev);
  if (!v) return;
  const KEY = v.key.toUpperCase();
  const other = v.key === 'vcek' ? files.vlek : files.vcek;
  if (other && ev.aux?.[v.key] === undefined) throw usageError(`the report is signed by a ${KEY}, not a ${other.flag.slice(2).toUpperCase()}: pass the ${KEY} with --${v.key} instead of ${other.flag}`);
  if (ev.aux?.[v.key] === undefined && !v.cert && !(v.key === 'vcek' && hasVcekProvider)) {
    throw new PlatformError('TRUST_ANCHOR_MISSING', `the report is signed by a ${KEY}, which the evidence does not carry: pass --${v.key} with the chip's ${KEY} (DER or PEM${v.key === 'vcek' ? ", from AMD KDS /vcek/v1/<product>/<chip id>?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=.." : ''})`);
  }
}

/**
 * After a failed SEV-SNP verification of evidence assembled from files: the
 * reason in terms of those files and flags, or undefined to keep the verifier's.
 */
export function explainSnpFailure(e: PlatformError, ev: Evidence, sources: InputSources): string | undefined {
  const v = snpVek(ev);
  if (!v?.cert) return undefined;
  const KEY = v.key.toUpperCase();
  const vekFile = sources[v.key];
  const vekFrom = vekFile ? `the ${KEY} from ${at(vekFile)}` : `the evidence's ${KEY}`;
  const chainFile = sources.ask ?? sources.asvk ?? sources.ark;
  const issuerKey = v.key === 'vlek' ? 'asvk' : 'ask';
  const issuerName = /CN=([^\n]+)/.exec(v.cert.issuer)?.[1] ?? 'its issuer';
  if (e.code === 'SIGNATURE_INVALID') {
    let r;
    try {
      r = parseSnpReport(ev.quote);
    } catch {
      return undefined;
    }
    if (!verifySnpReportSignature(r, v.cert.publicKey)) {
      return vekFile
        ? `the report signature does not verify with ${vekFrom}: a ${KEY} of another chip or TCB, a tampered ${KEY} file, or a tampered report`
        : undefined;
    }
    return undefined;
  }
  if (e.code === 'CHAIN_INVALID') {
    const given = ev.aux?.[issuerKey];
    if (given !== undefined) {
      const issuer = pemBlocks(given).map((p) => new X509Certificate(p))[0];
      if (issuer && !v.cert.checkIssued(issuer)) {
        return `${vekFrom} is issued by "${issuerName}", but ${chainFile ? at(chainFile) : 'the evidence'} holds "${cn(issuer)}": pass --chain with AMD's ask+ark file of that product (KDS /vcek/v1/<product>/cert_chain)`;
      }
      if (issuer && !v.cert.verify(issuer.publicKey)) {
        return `${vekFrom} is not signed by "${cn(issuer)}" from ${chainFile ? at(chainFile) : 'the evidence'}: the ${KEY} file is tampered or corrupted (or the chain is not AMD's)`;
      }
      return undefined;
    }
    return `the ${KEY}'s issuer "${issuerName}" is not available or does not verify ${vekFrom}: pass --chain with AMD's ask+ark file (KDS /vcek/v1/<product>/cert_chain)${vekFile ? `, and check that ${at(vekFile)} is not tampered` : ''}`;
  }
  if (e.code === 'UNTRUSTED_ROOT' && sources.ark) {
    return `the ARK in ${at(sources.ark)} is not a pinned AMD root: pass AMD's genuine ask+ark file with --chain, or trust that ARK explicitly with --amd-ark`;
  }
  return undefined;
}

/** CSV from files: the chain pieces the verifier needs, named by flag. */
export function checkCsvInputs(ev: Evidence, o: { hasHrk: boolean; allowPekOnly: boolean; hasCertProvider: boolean; chipSn?: string }): void {
  const aux = ev.aux ?? {};
  const chain = aux.hsk_cek !== undefined || (aux.hsk !== undefined && aux.cek !== undefined);
  if (!chain && !o.allowPekOnly && !o.hasCertProvider) {
    throw new PlatformError('TRUST_ANCHOR_MISSING', `the HSK/CEK of chip ${o.chipSn ?? '(unknown)'} are not available, so the PEK cannot be traced to the Hygon root: pass --chain with the chip's hsk_cek.cert (Hygon KDS), or accept the PEK alone with --csv-allow-pek-only`);
  }
  if (chain && !o.hasHrk && aux.hrk === undefined) throw new PlatformError('TRUST_ANCHOR_MISSING', 'no Hygon root key to check the HSK/CEK chain against: pass --hygon-hrk with the HRK certificate (hrk.cert)');
}

