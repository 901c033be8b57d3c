// The control-plane side of communication groups: acting for its app, it
// attests to the capsule manager, fetches the group's TLS assets and hands them
// to the control plane's SDS secret store (A's `secrets.set`), which Envoy's
// `interact` listeners and clusters reference by name.
//
// Per rotation a fresh P-256 key pair is generated in memory; only its public
// key goes to the CM (in global_attrs.subject_public_key_pem, so it is bound in
// the attested request). The private key exists only in this process and in
// Envoy (over the loopback SDS stream): never on disk, never logged.
//
// Collaborators are injected by interface (the CM client and the secret sink),
// so this file wires no transport itself.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { Attester } from '../../platforms/index.ts';
import type { GroupView } from '../core/status-view.ts';
import { GROUP_OP } from '../../tls-groups/index.ts';
import { DEFAULT_RENEWAL, renewalDelayMs, retryDelayMs, type RenewalPolicy } from '../../tls-groups/index.ts';

/** Matches capsule-manager/core/model.ts ResourceRequest (Trustflow JSON names). */
export interface TlsAssetRequest {
  initiator_party_id: string;
  scope: string;
  op_name: string;
  resources: Array<{ resource_uri: string; columns: string[]; attrs: string }>;
  env: string;
  global_attrs: string;
}

/** What CapsuleManagerClient.getTlsAsset provides. */
export interface TlsAssetSource {
  getTlsAsset(rr: TlsAssetRequest, attester?: Attester): Promise<{ cert: string; private_key: string; ca_cert: string }>;
}

/** What startControlPlane(...).secrets provides. */
export interface SecretSink {
  set(name: string, secret: { certificateChain: string; privateKey: string } | { trustedCa: string }): unknown;
}

export interface GroupBinding {
  /** Local name of the group (logs, status). */
  name: string;
  /** The data key naming the group (resource_uri = data_uuid). */
  resourceUri: string;
  scope?: string;
  certSecret: string;
  caSecret: string;
  /** "leaf" (default): the app's own key certified per party. "shared": Trustflow's shared asset. */
  form?: 'leaf' | 'shared';
}

/** A group as the provider reports it: the status view's shape (never key material). */
export type GroupStatus = GroupView;

export interface RotationEvent {
  name: string;
  notAfter: Date;
  fingerprint: string;
  /** Certificate serial, lowercase hex (what Envoy's admin /certs shows). */
  serial: string;
  /** Time from the start of the fetch to the secret being handed to the control plane. */
  fetchMs: number;
}

export interface GroupSdsProviderOptions {
  partyId: string;
  source: TlsAssetSource;
  attester?: Attester;
  secrets: SecretSink;
  groups: GroupBinding[];
  renewal?: Partial<RenewalPolicy>;
  onRotated?: (e: RotationEvent) => void;
  /** The CM refused (e.g. the rule no longer grants "interact"): renewal stops until it grants again. */
  onDenied?: (e: { name: string; reason: string }) => void;
  onError?: (e: { name: string; error: Error }) => void;
  now?: () => Date;
}

interface GroupState {
  binding: GroupBinding;
  status: GroupStatus;
  timer?: NodeJS.Timeout;
  attempt: number;
  notAfter?: Date;
  issuedAt?: Date;
  inFlight?: Promise<RotationEvent>;
}

function isDenied(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  const kind = (e as { kind?: string }).kind;
  return kind === 'permission_denied' || code === 'POLICY_DENIED';
}

export class GroupSdsProvider {
  private readonly groups = new Map<string, GroupState>();
  private readonly renewal: RenewalPolicy;
  private readonly now: () => Date;
  private stopped = false;

  constructor(private readonly o: GroupSdsProviderOptions) {
    this.renewal = { ...DEFAULT_RENEWAL, ...o.renewal };
    this.now = o.now ?? (() => new Date());
    for (const b of o.groups) {
      if (this.groups.has(b.name)) throw new Error(`group "${b.name}" is configured twice`);
      this.groups.set(b.name, { binding: b, status: { name: b.name, state: 'pending', rotations: 0, failures: 0 }, attempt: 0 });
    }
  }

  /** Fetches every group once (throws if any fails) and schedules renewals. */
  async start(): Promise<void> {
    await Promise.all([...this.groups.keys()].map((n) => this.rotate(n)));
  }

  /** Fetches a new leaf now (rotation on demand: key compromise, tests, benchmarks). */
  rotate(name: string): Promise<RotationEvent> {
    const g = this.groups.get(name);
    if (!g) return Promise.reject(new Error(`unknown group "${name}"`));
    if (g.inFlight) return g.inFlight;
    if (g.timer) clearTimeout(g.timer);
    const p = this.fetchOnce(g).finally(() => {
      g.inFlight = undefined;
    });
    g.inFlight = p;
    p.then(
      () => this.schedule(g),
      (e: Error) => {
        g.attempt++;
        g.status.failures++;
        g.status.lastError = e.message;
        if (isDenied(e)) {
          g.status.state = 'denied';
          this.o.onDenied?.({ name, reason: e.message });
        } else {
          g.status.state = 'failing';
          this.o.onError?.({ name, error: e });
        }
        this.scheduleRetry(g);
      },
    );
    return p;
  }

  private async fetchOnce(g: GroupState): Promise<RotationEvent> {
    const started = performance.now();
    const b = g.binding;
    const shared = b.form === 'shared';
    const key = shared ? undefined : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rr: TlsAssetRequest = {
      initiator_party_id: this.o.partyId,
      scope: b.scope ?? '',
      op_name: GROUP_OP,
      resources: [{ resource_uri: b.resourceUri, columns: ['*'], attrs: '' }],
      env: '',
      global_attrs: key ? JSON.stringify({ subject_public_key_pem: key.publicKey.export({ type: 'spki', format: 'pem' }) }) : '',
    };
    const asset = await this.o.source.getTlsAsset(rr, this.o.attester);
    if (!asset.cert || !asset.ca_cert) throw new Error('capsule manager returned an empty TLS asset');
    const privateKey = key ? (key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string) : asset.private_key;
    if (!privateKey) throw new Error('capsule manager returned no private key for the shared asset');
    const cert = new X509Certificate(asset.cert);
    if (key && !cert.checkPrivateKey(key.privateKey)) throw new Error('capsule manager certified a different key');
    const ca = new X509Certificate(asset.ca_cert);
    if (!cert.verify(ca.publicKey)) throw new Error('TLS asset certificate is not signed by the returned group CA');
    if (this.stopped) throw new Error('provider stopped');
    // Trust bundle first: a peer's new leaf must verify before our own new leaf is used.
    this.o.secrets.set(b.caSecret, { trustedCa: asset.ca_cert });
    this.o.secrets.set(b.certSecret, { certificateChain: asset.cert, privateKey });
    const notAfter = new Date(cert.validTo);
    g.notAfter = notAfter;
    // Lifetime counted from when we received it (the cert's notBefore is backdated for clock skew).
    g.issuedAt = this.now();
    g.attempt = 0;
    g.status.state = 'active';
    g.status.rotations++;
    g.status.notAfter = notAfter.toISOString();
    g.status.lastError = undefined;
    const uri = (cert.subjectAltName ?? '').split(', ').find((s) => s.startsWith('URI:aenv://group/'));
    if (uri) g.status.groupUriPrefix = uri.slice(4).replace(/(party\/[^/]+|shared)$/, '');
    const ev: RotationEvent = { name: b.name, notAfter, fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(), serial: cert.serialNumber.toLowerCase(), fetchMs: performance.now() - started };
    this.o.onRotated?.(ev);
    return ev;
  }

  private schedule(g: GroupState): void {
    if (this.stopped || !g.notAfter || !g.issuedAt) return;
    const delay = renewalDelayMs(g.issuedAt, g.notAfter, this.now(), this.renewal);
    g.timer = setTimeout(() => void this.rotate(g.binding.name).catch(() => undefined), delay);
    g.timer.unref();
  }

  private scheduleRetry(g: GroupState): void {
    if (this.stopped) return;
    g.timer = setTimeout(() => void this.rotate(g.binding.name).catch(() => undefined), retryDelayMs(g.attempt, g.notAfter, this.now(), this.renewal));
    g.timer.unref();
  }

  status(): GroupStatus[] {
    return [...this.groups.values()].map((g) => ({ ...g.status }));
  }

  stop(): void {
    this.stopped = true;
    for (const g of this.groups.values()) {
      if (g.timer) clearTimeout(g.timer);
      g.status.state = 'stopped';
    }
  }
}
