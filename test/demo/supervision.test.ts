// The demo notices a component process that dies (ext-proc, the capsule
// manager, Envoy): it says so loudly with what that means, restarts it, and the
// status page shows the outage; traffic fails closed meanwhile and works again
// once the process is back.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemo, type RunningDemo } from '../../dev/demo/demo.ts';
import { autoPorts } from '../../dev/demo/ports.ts';
import { runOnlineClient } from '../../client/transport/online-client.ts';
import { DEMO_APP_MEASUREMENT } from '../../dev/demo/demo.ts';
import { readFileSync } from 'node:fs';
import { alive } from '../helpers/process-tree.ts';

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function client(d: RunningDemo) {
  return runOnlineClient({
    url: `http://127.0.0.1:${d.ports.envoy}`,
    message: 'still there?',
    trustedSimKeys: [readFileSync(d.simKeyFile, 'utf8')],
    policy: { allowInsecure: true, measurements: { app: DEMO_APP_MEASUREMENT } },
  });
}

async function serviceDowns(d: RunningDemo, name: string): Promise<{ up: boolean | null; downs: number } | undefined> {
  const st = (await (await fetch(`${d.controlPlane.apiUrl}/v1/status`)).json()) as { services: Array<{ name: string; up: boolean | null; downs: number }> };
  return st.services.find((s) => s.name === name);
}

t.test('a component process that dies is said loudly, shown on the status page, restarted; traffic fails closed meanwhile', async (t) => {
  const lines: string[] = [];
  const d = await startDemo({ ports: await autoPorts(), dir: mkdtempSync(join(tmpdir(), 'demo-sup-')), say: (l) => lines.push(l) });
  t.teardown(() => d.close());
  t.equal((await client(d)).reply, 'I got your message: still there?', 'the online path works');
  await until('the status page sees every service up', async () => (await serviceDowns(d, 'ext-proc'))?.up === true || undefined);

  // ext-proc: kill -9.
  const ep = d.supervisor.current('ext-proc')!;
  process.kill(ep.pid!, 'SIGKILL');
  await until('the alarm', () => lines.some((l) => /^!!! ALARM  ext-proc \(pid \d+\) exited unexpectedly \(killed by SIGKILL\)\./.test(l)) || undefined);
  t.ok(lines.some((l) => /The online ingress fails closed \(HTTP 500\)/.test(l)), 'the alarm says what it means for traffic');
  t.ok(lines.some((l) => /its log: .*ext-proc\.log/.test(l)), 'and where its log is');
  // While it is down the ingress fails closed (the restart waits 1 s first).
  const during = await client(d).then(
    () => 'ok',
    (e: Error) => e.message,
  );
  t.match(during, /app: HTTP 5\d\d/, `a request meanwhile fails closed (${during.slice(0, 80)})`);
  await until('ext-proc back', () => lines.some((l) => /^ +ext-proc is back \(pid \d+\)\./.test(l)) || undefined);
  t.not(d.supervisor.current('ext-proc')!.pid, ep.pid, 'a new process');
  const seen = await until('the status page counted the outage', async () => {
    const s = await serviceDowns(d, 'ext-proc');
    return s && s.downs >= 1 && s.up === true ? s : undefined;
  });
  t.ok(seen.downs >= 1, `the status page counted ${seen.downs} outage(s) of ext-proc and shows it up again`);
  t.equal((await until('the online path again', () => client(d).catch(() => undefined))).reply, 'I got your message: still there?', 'and the online path works again');

  // The capsule manager.
  const cm = d.supervisor.current('capsule-manager')!;
  process.kill(cm.pid!, 'SIGKILL');
  await until('the CM alarm', () => lines.some((l) => /^!!! ALARM  capsule-manager \(pid \d+\) exited unexpectedly \(killed by SIGKILL\)\./.test(l)) || undefined);
  await until('the CM back', () => lines.some((l) => /^ +capsule-manager is back/.test(l)) || undefined);
  await until('the status page counted the CM outage', async () => ((await serviceDowns(d, 'capsule-manager'))?.downs ?? 0) >= 1 || undefined);
  t.pass('the CM outage was said, counted and ended');

  // Envoy.
  const envoyPid = d.envoy.proc.pid!;
  process.kill(envoyPid, 'SIGKILL');
  await until('the Envoy alarm', () => lines.some((l) => /^!!! ALARM  envoy \(pid \d+\) exited unexpectedly \(killed by SIGKILL\)\./.test(l)) || undefined);
  t.ok(lines.some((l) => /Both ingresses are down until it is back/.test(l)), 'the alarm says what it means');
  await until('Envoy back', () => lines.some((l) => /^ +envoy is back/.test(l)) || undefined);
  t.not(d.envoy.proc.pid, envoyPid, 'the demo uses the new Envoy');
  t.notOk(alive(envoyPid), 'the old one is gone');
  t.equal((await until('the online path through the new Envoy', () => client(d).catch(() => undefined), 30_000)).reply, 'I got your message: still there?', 'the new Envoy, configured over ADS again, serves');
});
