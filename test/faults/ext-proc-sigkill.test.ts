// Fault: ext-proc SIGKILLed with >= 32 envelope requests in flight.
//
// ext-proc runs as its own OS process (`node bin/aenv.js ext-proc --config`)
// behind real Envoy configured over ADS by the control plane's `online` plugin
// (ext_proc with failure_mode_allow: false). The app answers after 300 ms, so
// requests are provably held by it when ext-proc is killed. Load: 40 workers,
// at most 150 requests/s, at most 2500 requests, at most 40 s.
//
// What must hold:
// - the app only ever sees bodies ext-proc decrypted (our plaintext), never a
//   JWE, and sees nothing while ext-proc is gone;
// - every answer is either a 200 whose body is the JWE of the app's reply under
//   the request's own CEK, or a 5xx without the reply in it (nothing else);
// - every request held by the app at the kill (>= 32) gets a 5xx: with
//   ext-proc gone nobody can encrypt the reply, so it must not reach the
//   client at all;
// - after a restart (same identity dir, same port) new requests succeed within
//   5 s, and the last 64 requests of the run all succeed.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../dev/free-port.ts';
import { loadOrCreateAppIdentity } from '../../platforms/index.ts';
import { openResponse, sealRequest, type Sealed } from '../../ext-proc/core/envelope-client.ts';
import { startOnlineEnvoy } from '../helpers/ext-proc.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { startAenvProcess } from '../helpers/aenv-process.ts';
import { sleep, startLoad, waitUntil } from '../helpers/load.ts';

const APP_DELAY_MS = 300;
const MSG = /^fault-msg-\d+$/;

interface Answer {
  msg: string;
  status: number;
  text: string;
  sealed: Sealed;
}

t.test('ext-proc SIGKILL with >= 32 envelope requests in flight: fail closed, no plaintext, recovery', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fault-ext-proc-'));
  const identityDir = join(dir, 'identity');
  const identity = await loadOrCreateAppIdentity(identityDir, 'fault-ext-proc');
  const jwk = identity.keys.x25519.publicJwk;

  // The app: records what it received and when; answers after 300 ms.
  const foreign: string[] = [];
  const arrivals: number[] = [];
  const held = new Set<string>();
  const app = await startUpstream(t, (_req, body, res) => {
    const text = body.toString('utf8');
    const now = Date.now();
    arrivals.push(now);
    if (!MSG.test(text)) foreign.push(text.slice(0, 120));
    held.add(text);
    setTimeout(() => {
      held.delete(text);
      res.setHeader('content-type', 'text/plain');
      res.end(`I got your message: ${text}`);
    }, APP_DELAY_MS);
  });

  const port = await freePort();
  const cfgFile = join(dir, 'ext-proc.yaml');
  writeFileSync(cfgFile, stringify({ grpc: { host: '127.0.0.1', port }, http: { enabled: false }, identityDir, logLevel: 'warn' }));
  const ext = await startAenvProcess(t, { name: 'ext-proc', args: ['ext-proc', '--config', cfgFile], ready: /ext-proc gRPC on/ });
  const listenPort = await freePort();
  const envoy = await startOnlineEnvoy(t, { listenPort, appPort: app.port, extProcPort: port });
  const url = `http://127.0.0.1:${listenPort}/`;

  const load = startLoad<Answer>({
    concurrency: 40,
    maxRequests: 2500,
    maxMs: 40_000,
    maxRate: 150,
    fn: async (i) => {
      const msg = `fault-msg-${i}`;
      const sealed = sealRequest(msg, { jwk });
      const res = await fetch(url, { method: 'POST', body: sealed.body, headers: { 'content-type': sealed.contentType }, signal: AbortSignal.timeout(10_000) });
      return { msg, status: res.status, text: await res.text(), sealed };
    },
  });
  t.teardown(() => load.stop());

  // Steady state first: replies flowing, then >= 32 requests held by the app.
  await waitUntil('40 answered requests before the kill', () => load.outcomes.filter((o) => o.value?.status === 200).length >= 40, 20_000);
  await waitUntil('>= 32 requests held by the app', () => held.size >= 32, 10_000, 1);
  const heldAtKill = [...held];
  const killAt = Date.now();
  await ext.kill();
  const exitedAt = Date.now();
  t.ok(heldAtKill.length >= 32, `${heldAtKill.length} decrypted requests were in the app when ext-proc was killed`);

  // ext-proc stays down for a second under load, then comes back on the same port and identity.
  await sleep(1000);
  const restartAt = Date.now();
  await ext.restart();
  const readyAt = Date.now();
  const recoveredIn = await waitUntil(
    'a request sent after the restart to succeed',
    () => load.outcomes.some((o) => o.start >= readyAt && o.value?.status === 200),
    10_000,
  );
  t.ok(recoveredIn < 5000, `service recovered ${recoveredIn} ms after ext-proc was back (restart took ${readyAt - restartAt} ms)`);
  await load.completions(64);
  const outcomes = await load.stop();
  t.comment(`${outcomes.length} requests in ${outcomes.at(-1)!.end - outcomes[0]!.start} ms; ext-proc down ${readyAt - killAt} ms (kill took ${exitedAt - killAt} ms)`);

  // 1. The app saw only plaintext ext-proc produced, and nothing while ext-proc was gone.
  t.same(foreign, [], 'the app never received a body that was not a decrypted message (no JWE passed through)');
  const whileDown = arrivals.filter((a) => a > exitedAt + 200 && a < restartAt);
  t.equal(whileDown.length, 0, 'no request reached the app while ext-proc was down');

  // 2. Every answer is a correct encrypted 200 or a 5xx without the reply.
  const bad: string[] = [];
  const fivexx = new Set<string>();
  for (const o of outcomes) {
    if (o.error || !o.value) {
      bad.push(`#${o.i}: no HTTP answer (${(o.error as Error)?.message})`);
      continue;
    }
    const a = o.value;
    if (a.text.includes('I got your message')) bad.push(`#${o.i}: HTTP ${a.status} carries the app's reply in plaintext`);
    if (a.status === 200) {
      let opened = '';
      try {
        opened = openResponse(a.text, a.sealed).toString('utf8');
      } catch (e) {
        bad.push(`#${o.i}: HTTP 200 whose body is not the encrypted reply (${(e as Error).message}): ${a.text.slice(0, 80)}`);
        continue;
      }
      if (opened !== `I got your message: ${a.msg}`) bad.push(`#${o.i}: HTTP 200 decrypts to ${JSON.stringify(opened.slice(0, 80))}`);
    } else if (a.status >= 500 && a.status <= 599) {
      fivexx.add(a.msg);
    } else {
      bad.push(`#${o.i}: HTTP ${a.status} (neither an encrypted 200 nor a 5xx)`);
    }
  }
  t.same(bad, [], 'every answer is an encrypted 200 or a 5xx without plaintext');

  // 3. The requests held by the app at the kill were decrypted before it and answered after it:
  // nobody could encrypt their replies, so each must have failed. (The app runs on this
  // process's event loop, so the snapshot taken right before the SIGKILL is exact.)
  t.same(heldAtKill.filter((m) => !fivexx.has(m)), [], `each of the ${heldAtKill.length} requests held by the app at the kill got a 5xx`);
  const duringDown = outcomes.filter((o) => o.start > exitedAt && o.end < restartAt);
  t.ok(duringDown.length > 0, `${duringDown.length} requests were sent and answered while ext-proc was down`);
  t.ok(duringDown.every((o) => (o.value?.status ?? 0) >= 500), 'all of them were rejected with a 5xx');

  // 4. Recovery: the run ends with a clean tail.
  const tail = outcomes.slice(-64);
  t.ok(tail.every((o) => o.value?.status === 200), `the last ${tail.length} requests all succeeded`);
  // Envoy's own account: side streams broke and were answered locally, never failed open.
  const stats = await envoy.stats('^http\\.online\\.ext_proc\\.');
  t.equal(stats.get('http.online.ext_proc.failure_mode_allowed'), 0, 'Envoy never let a request through without ext-proc (failure_mode_allowed 0)');
  t.ok((stats.get('http.online.ext_proc.streams_failed') ?? 0) >= heldAtKill.length, `Envoy counted ${stats.get('http.online.ext_proc.streams_failed')} failed ext_proc streams`);
});
