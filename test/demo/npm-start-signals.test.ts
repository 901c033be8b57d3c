// `npm start` as a user stops it: a signal to npm's own pid (a process manager's
// SIGTERM, an IDE's stop button) stops the demo, every component and Envoy,
// leaving no process and no listening port behind.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';
import { alive, allListeningPorts, descendants, listeningPorts } from '../helpers/process-tree.ts';

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${sig} to npm's pid stops npm start with nothing left`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'npm-start-'));
    // Its own process group, so the signal reaches npm alone (as `kill <pid>` does), not the group.
    const npm = spawn('npm', ['start', '--silent', '--', '--ports', 'auto', '--dir', dir], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, CI: 'true' } });
    let out = '';
    npm.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    npm.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    let tree: number[] = [];
    t.teardown(() => {
      for (const p of [npm.pid!, ...tree]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
    const deadline = Date.now() + 120_000;
    while (!out.includes('Ctrl-C stops everything') && Date.now() < deadline && npm.exitCode === null) await new Promise((r) => setTimeout(r, 200));
    t.match(out, /Ctrl-C stops everything/, 'the demo is up');
    tree = descendants(npm.pid!);
    const ports = listeningPorts(tree);
    t.ok(tree.length >= 2, `npm has ${tree.length} descendants (the demo, Envoy, ...)`);
    t.ok(ports.length >= 8, `they listen on ${ports.length} ports`);

    process.kill(npm.pid!, sig);
    const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) => npm.once('exit', (code, signal) => resolve({ code, signal })));
    t.ok(exit.code !== null || exit.signal !== null, `npm exited (${JSON.stringify(exit)})`);
    // The processes are gone within a few seconds of npm's exit (the demo stops in order).
    const until = Date.now() + 15_000;
    while (tree.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    t.same(tree.filter(alive), [], 'no descendant of npm is left running');
    const listening = allListeningPorts();
    t.same(ports.filter((p) => listening.has(p)), [], 'none of their ports is still listening');
    t.match(out, /stopped cleanly\./, 'the demo said it stopped cleanly');
  });
}
