// X.509 certificate revocation lists (RFC 5280 §5) as Intel publishes them for
// the SGX/TDX PKI: the Intel SGX Root CA CRL (revokes PCK CAs and the TCB signing
// certificate) and the PCK Processor/Platform CA CRLs (revoke PCK certificates).
// Pure: DER in, structure out; the signature is ECDSA over the TBSCertList.
import { verify, type X509Certificate } from 'node:crypto';
import { children, readTlv, type Tlv } from '../der.ts';
import { PlatformError } from '../../errors.ts';

export interface Crl {
  der: Buffer;
  /** DER of the issuer Name (compared byte for byte with certificate names). */
  issuerDer: Buffer;
  issuerCn?: string;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** Revoked serial numbers, lowercase hex without leading zero bytes. */
  revoked: Set<string>;
  tbs: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
}

const invalid = (what: string, why: string, cause?: unknown) => new PlatformError('COLLATERAL_INVALID', `${what}: ${why}`, cause ? { cause } : undefined);

const OID_ECDSA_SHA256 = '2a8648ce3d040302';
const OID_ECDSA_SHA384 = '2a8648ce3d040303';
const OID_CN = '550403';

/** The whole TLV (header included) of `t` read at `off`. */
function whole(buf: Buffer, off: number, t: Tlv): Buffer {
  return buf.subarray(off, t.end);
}

function seqItems(buf: Buffer): Array<{ tlv: Tlv; raw: Buffer }> {
  const out: Array<{ tlv: Tlv; raw: Buffer }> = [];
  let off = 0;
  while (off < buf.length) {
    const t = readTlv(buf, off);
    out.push({ tlv: t, raw: whole(buf, off, t) });
    off = t.end;
  }
  return out;
}

function derTime(t: Tlv): Date {
  const s = t.value.toString('latin1');
  let m: RegExpExecArray | null;
  let d: Date;
  if (t.tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    d = new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  } else if (t.tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  } else throw new Error(`bad time ${s}`);
  return d;
}

/** Serial number bytes -> lowercase hex without leading zero bytes. */
export function serialHex(v: Buffer): string {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  return v.subarray(i).toString('hex');
}

/** The CN of a DER Name, if any. */
export function nameCn(name: Buffer): string | undefined {
  for (const rdn of children(readTlv(name, 0).value)) {
    for (const atv of children(rdn.value)) {
      const [oid, val] = children(atv.value);
      if (oid && val && oid.value.toString('hex') === OID_CN) return val.value.toString('utf8');
    }
  }
  return undefined;
}

/** A certificate's serial, issuer and subject as DER (for CRL matching). */
export function certNames(c: X509Certificate): { serial: string; issuerDer: Buffer; subjectDer: Buffer } {
  const raw = c.raw;
  const cert = readTlv(raw, 0);
  const tbs = readTlv(raw, cert.start);
  const items = seqItems(tbs.value);
  let i = items[0]?.tlv.tag === 0xa0 ? 1 : 0;
  const serial = items[i++]!;
  i++; // signature algorithm
  const issuer = items[i++]!;
  i++; // validity
  const subject = items[i]!;
  return { serial: serialHex(serial.tlv.value), issuerDer: issuer.raw, subjectDer: subject.raw };
}

/** DER, PEM ("X509 CRL") or hex text (as PCCS serves some CRLs) -> DER. */
export function crlDer(data: Uint8Array | string, what = 'CRL'): Buffer {
  const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf[0] === 0x30) return buf;
  const text = buf.toString('latin1').trim();
  const pem = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/.exec(text);
  if (pem) return Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64');
  if (/^([0-9a-fA-F]{2})+$/.test(text)) return Buffer.from(text, 'hex');
  throw invalid(what, 'neither DER, PEM nor hex');
}

export function parseCrl(data: Uint8Array | string, what = 'CRL'): Crl {
  const der = crlDer(data, what);
  try {
    const list = readTlv(der, 0);
    if (list.tag !== 0x30 || list.end !== der.length) throw new Error('not one SEQUENCE');
    const [tbsItem, algItem, sigItem] = seqItems(list.value);
    if (!tbsItem || !algItem || !sigItem || sigItem.tlv.tag !== 0x03) throw new Error('not a CertificateList');
    const alg = readTlv(algItem.tlv.value, 0).value.toString('hex');
    const items = seqItems(tbsItem.tlv.value);
    let i = items[0]?.tlv.tag === 0x02 ? 1 : 0; // version
    i++; // signature algorithm (inner)
    const issuer = items[i++]!;
    const thisUpdate = derTime(items[i++]!.tlv);
    let nextUpdate: Date | undefined;
    if (items[i] && (items[i]!.tlv.tag === 0x17 || items[i]!.tlv.tag === 0x18)) nextUpdate = derTime(items[i++]!.tlv);
    const revoked = new Set<string>();
    if (items[i] && items[i]!.tlv.tag === 0x30) {
      for (const entry of children(items[i]!.tlv.value)) {
        const serial = readTlv(entry.value, 0);
        if (serial.tag !== 0x02) throw new Error('revoked entry without a serial');
        revoked.add(serialHex(serial.value));
      }
    }
    return { der, issuerDer: issuer.raw, issuerCn: nameCn(issuer.raw), thisUpdate, nextUpdate, revoked, tbs: tbsItem.raw, signatureAlgorithm: alg, signature: sigItem.tlv.value.subarray(1) };
  } catch (cause) {
    if (cause instanceof PlatformError && cause.code === 'COLLATERAL_INVALID') throw cause;
    throw invalid(what, `not a DER CRL (${(cause as Error).message})`, cause);
  }
}

/**
 * The CRL is issued by `issuer` (same Name, signature by its key) and current
 * at `now` (thisUpdate <= now <= nextUpdate).
 */
export function verifyCrl(crl: Crl, issuer: X509Certificate, now: Date, what = 'CRL'): void {
  const names = certNames(issuer);
  if (!crl.issuerDer.equals(names.subjectDer)) throw invalid(what, `issued by "${crl.issuerCn ?? '?'}", not by "${nameCn(names.subjectDer) ?? '?'}"`);
  const hash = crl.signatureAlgorithm === OID_ECDSA_SHA256 ? 'sha256' : crl.signatureAlgorithm === OID_ECDSA_SHA384 ? 'sha384' : undefined;
  if (!hash) throw invalid(what, `signature algorithm ${crl.signatureAlgorithm} is not ECDSA with SHA-256/384`);
  if (!verify(hash, crl.tbs, { key: issuer.publicKey, dsaEncoding: 'der' }, crl.signature)) throw invalid(what, `signature does not verify with the key of "${nameCn(names.subjectDer) ?? '?'}"`);
  if (crl.thisUpdate.getTime() > now.getTime()) throw new PlatformError('COLLATERAL_EXPIRED', `${what}: not valid before ${crl.thisUpdate.toISOString()} (verification time ${now.toISOString()})`);
  if (!crl.nextUpdate || crl.nextUpdate.getTime() < now.getTime()) throw new PlatformError('COLLATERAL_EXPIRED', `${what}: expired (nextUpdate ${crl.nextUpdate?.toISOString() ?? 'absent'}, verification time ${now.toISOString()}): fetch it anew`);
}

/** Whether `crl` (issued by the certificate's issuer) lists the certificate. */
export function isRevoked(crl: Crl, c: X509Certificate): boolean {
  const n = certNames(c);
  return crl.issuerDer.equals(n.issuerDer) && crl.revoked.has(n.serial);
}
