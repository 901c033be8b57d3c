// Supervision of an external server process (Envoy, nats-server): captured
// output (bounded), readiness polling, and a kill that always happens, also when
// the Node process exits abnormally.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

export interface SupervisedOptions {
  name: string;
  bin: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Write combined output here as well as keeping a tail in memory. */
  logFile?: string;
}

export class Supervised {
  readonly child: ChildProcess;
  private tail: string[] = [];
  private logStream?: WriteStream;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo?: { code: number | null; signal: NodeJS.Signals | null };

  constructor(readonly opts: SupervisedOptions) {
    installExitHook();
    if (opts.logFile) this.logStream = createWriteStream(opts.logFile, { flags: 'a' });
    this.child = spawn(opts.bin, opts.args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    const onData = (b: Buffer) => {
      this.logStream?.write(b);
      const lines = b.toString('utf8').split('\n').filter(Boolean);
      this.tail.push(...lines);
      if (this.tail.length > 200) this.tail.splice(0, this.tail.length - 200);
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        live.delete(this.child);
        this.exitInfo = { code, signal };
        this.logStream?.end();
        resolve({ code, signal });
      });
      this.child.on('error', (err) => {
        this.tail.push(`spawn error: ${err.message}`);
        live.delete(this.child);
        this.exitInfo = { code: -1, signal: null };
        resolve({ code: -1, signal: null });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  outputTail(n = 40): string {
    return this.tail.slice(-n).join('\n');
  }

  /** Polls `probe` until it returns true; fails early if the process dies. */
  async waitFor(probe: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(`${this.opts.name} exited (${JSON.stringify(this.exitInfo)}) before ${what}; output:\n${this.outputTail()}`);
      }
      if (await probe().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.opts.name} not ${what} after ${timeoutMs} ms; output:\n${this.outputTail()}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** kill -9: for crash tests. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
