// `aenv groups`: inspect a group certificate (no key material needed).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { X509Certificate } from 'node:crypto';
import { findEvidenceExtension } from './core/evidence-extension.ts';
import { parseClaimsUri, parseGroupUri } from './core/group-identity.ts';

const USAGE = `usage: aenv groups inspect <cert.pem> [--ca <ca.pem>]

Prints the group id, party id, platform claims and evidence digest of a group
leaf (or the shared-asset certificate); with --ca, also checks its signature.`;

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: { ca: { type: 'string' }; help: { type: 'boolean'; short: 'h' } }; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: { ca: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals[0] !== 'inspect' || !positionals[1]) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const cert = new X509Certificate(readFileSync(positionals[1]));
    const uris = (cert.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
    const group = uris.map(parseGroupUri).find((x) => x);
    const claims = uris.map(parseClaimsUri).find((x) => x);
    const ev = findEvidenceExtension(cert.raw);
    const out: Record<string, unknown> = {
      groupId: group?.groupId ?? null,
      partyId: group?.partyId ?? null,
      shared: group?.shared ?? false,
      claims: claims ?? null,
      evidence: ev ? { platform: ev.platform, sha256: ev.evidenceDigest.toString('hex') } : null,
      notBefore: new Date(cert.validFrom).toISOString(),
      notAfter: new Date(cert.validTo).toISOString(),
      serial: cert.serialNumber.toLowerCase(),
    };
    if (values.ca) out.signatureValid = cert.verify(new X509Certificate(readFileSync(values.ca)).publicKey);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return values.ca && out.signatureValid === false ? 1 : 0;
  } catch (e) {
    process.stderr.write(`groups inspect: ${(e as Error).message}\n`);
    return 1;
  }
}
