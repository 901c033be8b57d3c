// Runs a real nats-server (JetStream on) on loopback for tests, the demo and the
// cluster deployment; ready when its monitoring /healthz answers ok.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { natsServerBin } from './toolchain.ts';
import { freePort } from './free-port.ts';
import { Supervised } from './child-process.ts';

export interface NatsStartOptions {
  name?: string;
  port?: number;
  jetstream?: boolean;
  storeDir?: string;
  /** Cluster membership: this node's route port and the others' route URLs. */
  cluster?: { name: string; port: number; routes: string[] };
  /** Client TLS: the server's certificate and key; with `verifyClientsCaFile`, clients need a certificate it signs. */
  tls?: { certFile: string; keyFile: string; verifyClientsCaFile?: string };
  /** Client authorization: users with passwords, users by nkey (U...), or one token. */
  authorization?: { users?: Array<{ user: string; password: string } | { nkey: string }>; token?: string };
  extraArgs?: string[];
  timeoutMs?: number;
}

/** nats-server's config syntax accepts JSON strings for values. */
const q = (v: string): string => JSON.stringify(v);

/** The config file for what nats-server takes only from a file (TLS, authorization). */
function serverConfig(o: NatsStartOptions): string {
  const lines: string[] = [];
  if (o.tls) {
    lines.push('tls {', `  cert_file: ${q(o.tls.certFile)}`, `  key_file: ${q(o.tls.keyFile)}`, '  timeout: 2');
    if (o.tls.verifyClientsCaFile) lines.push(`  ca_file: ${q(o.tls.verifyClientsCaFile)}`, '  verify: true');
    lines.push('}');
  }
  const a = o.authorization;
  if (a) {
    if (a.token !== undefined && a.users?.length) throw new Error('nats-server authorization: a token or users, not both');
    lines.push('authorization {');
    if (a.token !== undefined) lines.push(`  token: ${q(a.token)}`);
    if (a.users?.length) {
      lines.push('  users: [');
      for (const u of a.users) lines.push('nkey' in u ? `    { nkey: ${q(u.nkey)} }` : `    { user: ${q(u.user)}, password: ${q(u.password)} }`);
      lines.push('  ]');
    }
    lines.push('}');
  }
  return lines.join('\n') + '\n';
}

export class NatsProcess {
  private constructor(
    readonly proc: Supervised,
    readonly port: number,
    readonly monitorPort: number,
    readonly storeDir: string,
    readonly options: NatsStartOptions,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(opts: NatsStartOptions = {}): Promise<NatsProcess> {
    const port = opts.port ?? (await freePort());
    const monitorPort = await freePort();
    const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), `nats-${opts.name ?? 'test'}-`));
    const args = ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-n', opts.name ?? `nats-${port}`];
    if (opts.jetstream ?? true) args.push('-js', '-sd', storeDir);
    if (opts.cluster) {
      args.push('--cluster_name', opts.cluster.name, '--cluster', `nats://127.0.0.1:${opts.cluster.port}`);
      if (opts.cluster.routes.length) args.push('--routes', opts.cluster.routes.join(','));
    }
    if (opts.tls || opts.authorization) {
      mkdirSync(storeDir, { recursive: true, mode: 0o700 });
      const conf = join(storeDir, 'nats-server.conf');
      writeFileSync(conf, serverConfig(opts), { mode: 0o600 });
      args.push('-c', conf);
    }
    args.push(...(opts.extraArgs ?? []));
    const proc = new Supervised({ name: `nats-server(${opts.name ?? port})`, bin: natsServerBin(), args });
    try {
      await proc.waitFor(async () => {
        const r = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
        return r.ok;
      }, 'healthy', opts.timeoutMs ?? 15_000);
    } catch (e) {
      await proc.kill();
      throw e;
    }
    return new NatsProcess(proc, port, monitorPort, storeDir, opts);
  }

  get running(): boolean {
    return this.proc.running;
  }

  async stop(): Promise<void> {
    await this.proc.stop();
  }

  async kill(): Promise<void> {
    await this.proc.kill();
  }
}
