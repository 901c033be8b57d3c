// An `aenv <command>` (bin/aenv.js) as its own OS process for crash tests:
// started, ready when its output matches, killed with SIGKILL on demand and
// started again with the same arguments. Whatever instance runs when the test
// ends is stopped in t.teardown (and by Supervised's exit hook if the test
// process dies first).
import { join } from 'node:path';
import type { Test } from 'tap';
import { Supervised } from '../../dev/child-process.ts';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';

export interface AenvProcessOptions {
  /** A name for messages (e.g. "ext-proc"). */
  name: string;
  /** Arguments after `node bin/aenv.js`, e.g. ['ext-proc', '--config', file]. */
  args: string[];
  /** Ready once the combined output matches. */
  ready: RegExp;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export interface AenvProcess {
  /** The current instance. */
  readonly proc: Supervised;
  readonly pid: number;
  /** The first output line matching `ready` of the current instance. */
  readonly readyLine: string;
  /** kill -9 and wait for the exit. */
  kill(): Promise<void>;
  /** Starts a new instance with the same arguments (the previous one must be gone). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function launch(o: AenvProcessOptions): Promise<{ proc: Supervised; line: string }> {
  const proc = new Supervised({ name: o.name, bin: process.execPath, args: [join(PROJECT_ROOT, 'bin/aenv.js'), ...o.args], cwd: PROJECT_ROOT, env: { ...process.env, ...o.env } });
  let line = '';
  try {
    await proc.waitFor(async () => {
      line = proc.outputTail(200).split('\n').find((l) => o.ready.test(l)) ?? '';
      return line !== '';
    }, `ready (${o.ready})`, o.timeoutMs ?? 30_000);
  } catch (e) {
    await proc.kill();
    throw e;
  }
  return { proc, line };
}

export async function startAenvProcess(t: Test, o: AenvProcessOptions): Promise<AenvProcess> {
  let cur = await launch(o);
  t.teardown(() => cur.proc.stop());
  return {
    get proc() {
      return cur.proc;
    },
    get pid() {
      return cur.proc.pid!;
    },
    get readyLine() {
      return cur.line;
    },
    async kill() {
      await cur.proc.kill();
    },
    async restart() {
      if (cur.proc.running) throw new Error(`${o.name} is still running`);
      cur = await launch(o);
    },
    async stop() {
      await cur.proc.stop();
    },
  };
}
