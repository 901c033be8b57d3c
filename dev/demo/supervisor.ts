// The demo's process supervisor: the components that run as processes of their
// own (Envoy, the ext-procs, the capsule manager) are started through it, and a
// child that dies while the demo runs is said loudly (ALARM, how it ended,
// what that means for traffic, where its log is) and restarted with a backoff,
// at most `maxRestarts` times a minute; after that it stays down, said as loudly.
import { join } from 'node:path';
import { Supervised } from '../child-process.ts';

export interface ChildSpec<C extends RunningChild = RunningChild> {
  /** Short name in the demo's output, e.g. "ext-proc". */
  name: string;
  /** What its death means for traffic (said with the alarm). */
  impact: string;
  /** Starts the process; resolves once it serves. */
  start(): Promise<C>;
}

export interface RunningChild {
  pid: number | undefined;
  /** Resolves when the process has exited, with how. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
  logFile?: string;
}

export interface SupervisorEvent {
  kind: 'died' | 'restarted' | 'gave-up';
  name: string;
  how?: string;
  pid?: number;
}

export class DemoSupervisor {
  private readonly children = new Map<string, { spec: ChildSpec; current: RunningChild; restarts: number[] }>();
  private stopping = false;
  readonly events: SupervisorEvent[] = [];

  constructor(
    private readonly say: (line: string) => void,
    private readonly opts: { maxRestarts?: number; backoffMs?: number } = {},
  ) {}

  /** Starts a child and supervises it from then on. */
  async start<C extends RunningChild>(spec: ChildSpec<C>): Promise<C> {
    const current = await spec.start();
    this.children.set(spec.name, { spec, current, restarts: [] });
    this.watch(spec.name, current);
    return current;
  }

  current(name: string): RunningChild | undefined {
    return this.children.get(name)?.current;
  }

  private watch(name: string, child: RunningChild): void {
    void child.exited.then((how) => this.onExit(name, child, how));
  }

  private async onExit(name: string, child: RunningChild, how: { code: number | null; signal: NodeJS.Signals | null }): Promise<void> {
    const entry = this.children.get(name);
    if (this.stopping || !entry || entry.current !== child) return;
    const ended = how.signal ? `killed by ${how.signal}` : `exit code ${how.code}`;
    this.events.push({ kind: 'died', name, how: ended, pid: child.pid });
    this.say('');
    this.say(`!!! ALARM  ${name} (pid ${child.pid}) exited unexpectedly (${ended}).`);
    this.say(`!!!        ${entry.spec.impact}`);
    if (child.logFile) this.say(`!!!        its log: ${child.logFile}`);
    const now = Date.now();
    entry.restarts = entry.restarts.filter((t) => now - t < 60_000);
    const max = this.opts.maxRestarts ?? 3;
    if (entry.restarts.length >= max) {
      this.events.push({ kind: 'gave-up', name });
      this.say(`!!!        it died ${max + 1} times within a minute: NOT restarting it. The demo runs degraded; Ctrl-C stops it.`);
      return;
    }
    const backoff = (this.opts.backoffMs ?? 1000) * 2 ** entry.restarts.length;
    entry.restarts.push(now);
    this.say(`!!!        restarting it in ${backoff} ms.`);
    await new Promise((r) => setTimeout(r, backoff));
    if (this.stopping) return;
    try {
      const next = await entry.spec.start();
      entry.current = next;
      this.watch(name, next);
      this.events.push({ kind: 'restarted', name, pid: next.pid });
      this.say(`           ${name} is back (pid ${next.pid}).`);
    } catch (e) {
      this.events.push({ kind: 'gave-up', name, how: (e as Error).message });
      this.say(`!!! ALARM  ${name} could not be restarted: ${(e as Error).message}`);
    }
  }

  /**
   * From now on an exit is expected (the demo is stopping): no alarm, no restart.
   * Called at the first Ctrl-C, which the terminal also sends to every child.
   */
  expectExits(): void {
    this.stopping = true;
  }

  /** Stops every child (in reverse start order); no alarm from here on. */
  async stopAll(): Promise<void> {
    this.expectExits();
    for (const { current } of [...this.children.values()].reverse()) await current.stop().catch(() => undefined);
  }
}

/** A node child `node bin/aenv.js <args>`, ready when its output matches `ready`. */
export type AenvChild = RunningChild & { proc: Supervised; output(): string };

export async function startAenvChild(o: { name: string; args: string[]; ready: RegExp; logDir: string; root: string; timeoutMs?: number }): Promise<AenvChild> {
  const logFile = join(o.logDir, `${o.name}.log`);
  const proc = new Supervised({ name: o.name, bin: process.execPath, args: [join(o.root, 'bin/aenv.js'), ...o.args], cwd: o.root, logFile });
  await proc.waitFor(async () => o.ready.test(proc.outputTail(200)), `ready (${o.ready})`, o.timeoutMs ?? 30_000);
  return { pid: proc.pid, exited: proc.exited, stop: () => proc.stop(), logFile, proc, output: () => proc.outputTail(200) };
}
