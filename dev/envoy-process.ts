// Runs a real Envoy with a given bootstrap on loopback: admin on a free port
// (reported through --admin-address-path), ready when /ready says LIVE.
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml, parse as parseYaml } from 'yaml';
import { envoyBin, envoyVersion } from './toolchain.ts';
import { Supervised } from './child-process.ts';

export interface EnvoyStartOptions {
  /** Bootstrap as an object (snake_case proto JSON) or YAML text. */
  bootstrap: Record<string, unknown> | string;
  name?: string;
  /** Envoy worker threads; 1 keeps tests light on 2 cores. */
  concurrency?: number;
  logLevel?: 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical' | 'off';
  /** Component log levels, e.g. "upstream:debug,config:debug". */
  componentLogLevel?: string;
  workDir?: string;
  timeoutMs?: number;
  extraArgs?: string[];
  /** Admin port on 127.0.0.1 (default 0: a free port, reported through --admin-address-path). */
  adminPort?: number;
}

export class EnvoyProcess {
  private constructor(
    readonly proc: Supervised,
    readonly adminUrl: string,
    readonly workDir: string,
    readonly bootstrapPath: string,
  ) {}

  static async start(opts: EnvoyStartOptions): Promise<EnvoyProcess> {
    const bin = envoyBin();
    const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), `envoy-${opts.name ?? 'test'}-`));
    const bootstrap = (typeof opts.bootstrap === 'string' ? parseYaml(opts.bootstrap) : structuredClone(opts.bootstrap)) as Record<string, unknown>;
    // The supervisor owns the admin endpoint: always loopback.
    const admin = (bootstrap.admin ?? {}) as Record<string, unknown>;
    admin.address = { socket_address: { address: '127.0.0.1', port_value: opts.adminPort ?? 0 } };
    bootstrap.admin = admin;
    const bootstrapPath = join(workDir, 'bootstrap.yaml');
    writeFileSync(bootstrapPath, toYaml(bootstrap));
    const adminPathFile = join(workDir, 'admin-address.txt');
    const args = [
      '-c', bootstrapPath,
      '--admin-address-path', adminPathFile,
      '--disable-hot-restart',
      '--concurrency', String(opts.concurrency ?? 1),
      '-l', opts.logLevel ?? 'warning',
      ...(opts.componentLogLevel ? ['--component-log-level', opts.componentLogLevel] : []),
      ...(opts.extraArgs ?? []),
    ];
    const proc = new Supervised({ name: `envoy(${opts.name ?? 'test'})`, bin, args, cwd: workDir, logFile: join(workDir, 'envoy.log') });
    let adminUrl = '';
    try {
      await proc.waitFor(async () => existsSync(adminPathFile) && readFileSync(adminPathFile, 'utf8').trim().length > 0, 'writing its admin address', opts.timeoutMs ?? 20_000);
      adminUrl = `http://${readFileSync(adminPathFile, 'utf8').trim()}`;
      await proc.waitFor(async () => {
        const r = await fetch(`${adminUrl}/ready`);
        return r.status === 200 && (await r.text()).trim() === 'LIVE';
      }, 'LIVE', opts.timeoutMs ?? 20_000);
    } catch (e) {
      await proc.kill();
      throw e;
    }
    return new EnvoyProcess(proc, adminUrl, workDir, bootstrapPath);
  }

  static version(): string {
    return envoyVersion();
  }

  async admin(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.adminUrl}${path}`, init);
  }

  /** /config_dump as JSON, optionally filtered by resource (e.g. "dynamic_active_clusters"). */
  async configDump(opts: { resource?: string; mask?: string; includeEds?: boolean } = {}): Promise<{ configs: Array<Record<string, unknown>> }> {
    const q = new URLSearchParams();
    if (opts.resource) q.set('resource', opts.resource);
    if (opts.mask) q.set('mask', opts.mask);
    if (opts.includeEds) q.set('include_eds', '');
    const r = await this.admin(`/config_dump?${q}`);
    if (!r.ok) throw new Error(`config_dump: HTTP ${r.status}: ${await r.text()}`);
    return (await r.json()) as { configs: Array<Record<string, unknown>> };
  }

  /** All stats as name -> value (counters and gauges; histograms omitted). */
  async stats(filter?: string): Promise<Map<string, number>> {
    const q = new URLSearchParams({ format: 'json' });
    if (filter) q.set('filter', filter);
    const r = await this.admin(`/stats?${q}`);
    const body = (await r.json()) as { stats: Array<{ name?: string; value?: number }> };
    const m = new Map<string, number>();
    for (const s of body.stats) if (s.name !== undefined && typeof s.value === 'number') m.set(s.name, s.value);
    return m;
  }

  async stat(name: string): Promise<number | undefined> {
    return (await this.stats(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)).get(name);
  }

  /** Polls a stat until `pred` holds. */
  async waitForStat(name: string, pred: (v: number | undefined) => boolean, timeoutMs = 10_000): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    let v: number | undefined;
    while (Date.now() < deadline) {
      v = await this.stat(name);
      if (pred(v)) return v;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`stat ${name} did not reach the expected value in ${timeoutMs} ms (last: ${v})`);
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

  logs(n = 60): string {
    return this.proc.outputTail(n);
  }
}
