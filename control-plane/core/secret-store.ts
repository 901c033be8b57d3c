// SDS secrets by name: a certificate with its key, or a trust anchor. Checked
// on the way in (PEM parses, key matches type) so Envoy never gets garbage;
// only metadata (subject, expiry) is ever shown or logged, never key material.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Secret } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret.ts';
import { ControlPlaneError } from '../errors.ts';
import type { DeepPartial } from './xds/snapshot.ts';

export type SecretInput = { certificateChain: string; privateKey: string } | { trustedCa: string };

export interface SecretInfo {
  name: string;
  kind: 'tls_certificate' | 'validation_context';
  subject: string;
  notBefore: string;
  notAfter: string;
  /** Seconds until the (first) certificate expires; negative once expired. */
  expiresInSeconds: number;
  /**
   * `expiring` once less than a third of the certificate's lifetime is left (a
   * renewing source replaces it at two thirds), capped at 7 days for long-lived
   * certificates: a fresh 1-hour leaf is `valid`, a 90-day one turns at 7 days.
   */
  state: SecretState;
}

export type SecretState = 'valid' | 'expiring' | 'expired';

const NEAR_EXPIRY_CAP_SECONDS = 7 * 86_400;

/** The state of a certificate valid from `notBefore` to `notAfter`, at `now`. */
export function secretState(notBefore: Date, notAfter: Date, now = Date.now()): SecretState {
  const left = (notAfter.getTime() - now) / 1000;
  if (left <= 0) return 'expired';
  const lifetime = Math.max(0, (notAfter.getTime() - notBefore.getTime()) / 1000);
  return left < Math.min(NEAR_EXPIRY_CAP_SECONDS, lifetime / 3) ? 'expiring' : 'valid';
}

function withTimes(info: Omit<SecretInfo, 'expiresInSeconds' | 'state'>, now = Date.now()): SecretInfo {
  const nb = new Date(info.notBefore), na = new Date(info.notAfter);
  return { ...info, expiresInSeconds: Math.round((na.getTime() - now) / 1000), state: secretState(nb, na, now) };
}

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

function firstCert(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw new ControlPlaneError('INVALID_SECRET', `${what} is not a PEM certificate`, { cause });
  }
}

export class SecretStore {
  private readonly items = new Map<string, { input: SecretInput; info: SecretInfo }>();

  /** Validates without storing: returns the next state's view for a dry run. */
  check(name: string, input: SecretInput): SecretInfo {
    if (!NAME.test(name)) throw new ControlPlaneError('INVALID_SECRET', `secret name must match ${NAME}`);
    let cert: X509Certificate;
    let kind: SecretInfo['kind'];
    if ('trustedCa' in input) {
      cert = firstCert(input.trustedCa, `secret "${name}": trustedCa`);
      kind = 'validation_context';
    } else if ('certificateChain' in input && 'privateKey' in input) {
      cert = firstCert(input.certificateChain, `secret "${name}": certificateChain`);
      let ok = false;
      try {
        ok = cert.checkPrivateKey(createPrivateKey(input.privateKey));
      } catch (cause) {
        throw new ControlPlaneError('INVALID_SECRET', `secret "${name}": privateKey is not a PEM private key`, { cause });
      }
      if (!ok) throw new ControlPlaneError('INVALID_SECRET', `secret "${name}": privateKey does not match the certificate`);
      kind = 'tls_certificate';
    } else {
      throw new ControlPlaneError('INVALID_SECRET', `secret "${name}" needs {certificateChain, privateKey} or {trustedCa}`);
    }
    return withTimes({ name, kind, subject: cert.subject, notBefore: new Date(cert.validFrom).toISOString(), notAfter: new Date(cert.validTo).toISOString() });
  }

  /** A copy with one secret set or removed (the caller commits it only if the snapshot builds). */
  with(name: string, input: SecretInput | undefined): SecretStore {
    const next = new SecretStore();
    for (const [k, v] of this.items) next.items.set(k, v);
    if (input) next.items.set(name, { input, info: this.check(name, input) });
    else if (!next.items.delete(name)) throw new ControlPlaneError('NOT_FOUND', `secret "${name}" does not exist`);
    return next;
  }

  list(): SecretInfo[] {
    const now = Date.now();
    return [...this.items.values()].map(({ info }) => withTimes(info, now));
  }

  toEnvoy(): DeepPartial<Secret>[] {
    return [...this.items.entries()].map(([name, { input }]) =>
      'trustedCa' in input
        ? { name, validationContext: { trustedCa: { inlineString: input.trustedCa } } }
        : { name, tlsCertificate: { certificateChain: { inlineString: input.certificateChain }, privateKey: { inlineString: input.privateKey } } },
    );
  }
}
