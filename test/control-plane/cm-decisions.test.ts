// Recent capsule-manager decisions on the status view: the contract parser,
// and the control plane polling a small fastify server that serves the
// contract of the CM's `GET /api/v1/audit/recent?limit=N` (a test double of a
// URL; the CM side is tested by its owner). An unreachable or broken URL shows
// up as `cmDecisions.error` and nothing else changes.
import t, { type Test } from 'tap';
import Fastify from 'fastify';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../foundation/logger.ts';
import { freePort } from '../../dev/free-port.ts';
import { startControlPlane } from '../../control-plane/start.ts';
import { startTestControlPlane } from '../helpers/control-plane.ts';
import { parseCmDecisions, displaySource, decisionsRequestUrl } from '../../control-plane/core/cm-decisions.ts';
import { routeSample } from './plugin-samples.ts';

const rec = (i: number, over: Record<string, unknown> = {}) => ({
  time: new Date(Date.UTC(2026, 10, 26, 10, 0, 60 - i)).toISOString(),
  action: 'GetDataKeys',
  initiator_party_id: `party-${i}-${'f'.repeat(40)}`,
  resource_uri: `data-${i}`,
  decision: i % 2 ? 'deny' : 'allow',
  reason: i % 2 ? 'policy: party not allowed' : undefined,
  ...over,
});

async function decisionsServer(t: Test, reply: (limit: number) => { status?: number; body: unknown }, token?: string): Promise<{ url: string; hits: Array<Record<string, string>> }> {
  const app = Fastify();
  const hits: Array<Record<string, string>> = [];
  app.get('/api/v1/audit/recent', async (req, res) => {
    const q = req.query as Record<string, string>;
    hits.push(q);
    if (token && req.headers.authorization !== `Bearer ${token}`) return res.status(401).send({ code: 'UNAUTHENTICATED' });
    const r = reply(Number(q.limit));
    return res.status(r.status ?? 200).send(r.body);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const addr = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}/api/v1/audit/recent`, hits };
}

t.test('parseCmDecisions: contract checked, limit applied, long strings clipped, bad input refused', async (t) => {
  const body = { records: [rec(0), rec(1), rec(2)], next: 'ignored' };
  const out = parseCmDecisions(JSON.parse(JSON.stringify(body)), 2);
  t.equal(out.length, 2);
  t.same(out[1], { time: rec(1).time, action: 'GetDataKeys', initiator_party_id: rec(1).initiator_party_id, resource_uri: 'data-1', decision: 'deny', reason: 'policy: party not allowed' });
  t.equal(parseCmDecisions({ records: [rec(0, { reason: 'x'.repeat(2000) })] }, 5)[0]!.reason!.length, 513, 'clipped to 512 + ellipsis');
  t.equal(parseCmDecisions({ records: [rec(0, { replica: 'cm-b' })] }, 5)[0]!.replica, 'cm-b', 'the deciding replica is kept');
  t.notOk('replica' in parseCmDecisions({ records: [rec(0)] }, 5)[0]!, 'absent when the CM does not say');
  t.throws(() => parseCmDecisions({ records: [rec(0, { decision: 'maybe' })] }, 5), { code: 'BAD_UPSTREAM_RESPONSE', message: /\/records\/0\/decision/ });
  t.throws(() => parseCmDecisions({ nope: [] }, 5), { code: 'BAD_UPSTREAM_RESPONSE' });
  t.throws(() => parseCmDecisions({ records: [rec(0, { time: 'yesterday' })] }, 5), { code: 'BAD_UPSTREAM_RESPONSE', message: /ISO-8601/ });
  t.equal(decisionsRequestUrl('http://cm:8080/api/v1/audit/recent?x=1&limit=3', 20).toString(), 'http://cm:8080/api/v1/audit/recent?x=1&limit=20');
  t.equal(displaySource('https://user:pw@cm/api'), 'https://cm/api', 'credentials never shown');
});

t.test('status JSON shows the polled decisions; the URL gets ?limit=N; errors keep the last good records', async (t) => {
  let mode: 'ok' | 'fail' | 'garbage' = 'ok';
  const cmSrv = await decisionsServer(t, (limit) =>
    mode === 'ok' ? { body: { records: [rec(0), rec(1), rec(2), rec(3)].slice(0, limit) } } : mode === 'fail' ? { status: 503, body: { error: 'down' } } : { body: { records: 'nope' } },
  );
  const cp = await startControlPlane({ id: 'cm-cp', app: { plugins: [routeSample()] }, capsuleManager: { decisionsUrl: cmSrv.url, pollSeconds: 1, limit: 3 } }, { logger: silentLogger });
  t.teardown(() => cp.close());
  const get = async () => (await (await fetch(`${cp.apiUrl}/v1/status`)).json()) as { cmDecisions: { source: string; fetchedAt: string | null; error?: string; records: Array<Record<string, string>> } };
  const until = async (what: string, ok: (s: Awaited<ReturnType<typeof get>>) => boolean) => {
    const end = Date.now() + 5000;
    for (;;) {
      const s = await get();
      if (ok(s)) return s;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s.cmDecisions)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const s1 = await until('records', (s) => s.cmDecisions.records.length > 0);
  t.equal(cmSrv.hits[0]!.limit, '3', 'limit passed as query parameter');
  t.equal(s1.cmDecisions.records.length, 3);
  t.equal(s1.cmDecisions.records[1]!.decision, 'deny');
  t.equal(s1.cmDecisions.source, cmSrv.url);
  t.notOk(s1.cmDecisions.error);
  t.same(cp.status().cmDecisions!.records, s1.cmDecisions.records, 'programmatic status() agrees');

  mode = 'fail';
  const s2 = await until('HTTP error', (s) => !!s.cmDecisions.error);
  t.match(s2.cmDecisions.error, /HTTP 503/);
  t.equal(s2.cmDecisions.records.length, 3, 'last good records kept, with their fetchedAt');
  t.equal(s2.cmDecisions.fetchedAt, s1.cmDecisions.fetchedAt);
  mode = 'garbage';
  t.match((await until('contract error', (s) => /contract/.test(s.cmDecisions.error ?? ''))).cmDecisions.error, /\/records/);
  mode = 'ok';
  await until('recovered', (s) => !s.cmDecisions.error);
  t.pass('recovers on the next good poll');
});

t.test('unreachable URL: status shows the error, xDS config and API keep working', async (t) => {
  const dead = await freePort();
  const cp = await startTestControlPlane(t, { id: 'cm-dead', app: { plugins: [routeSample()] }, capsuleManager: { decisionsUrl: `http://127.0.0.1:${dead}/api/v1/audit/recent`, pollSeconds: 1 } });
  let s = cp.status();
  for (let i = 0; i < 50 && !s.cmDecisions?.error; i++) {
    await new Promise((r) => setTimeout(r, 100));
    s = cp.status();
  }
  t.match(s.cmDecisions, { source: `http://127.0.0.1:${dead}/api/v1/audit/recent`, fetchedAt: null, records: [] });
  t.match(s.cmDecisions!.error, /fetch failed: ECONNREFUSED/);
  const res = await fetch(`${cp.apiUrl}/v1/status`);
  t.equal(res.status, 200, 'status endpoint fine');
  t.ok(s.snapshot, 'snapshot still published');
  const put = await cp.api('PUT', '/v1/clusters/extra', { endpoints: [{ address: '127.0.0.1', port: 9 }] });
  t.equal(put.status, 200, 'routing API still works');
  const page = await (await fetch(`${cp.apiUrl}/status`)).text();
  t.match(page, /Capsule manager decisions/);
});

t.test('capsuleManager.tokenFile: the bearer token is sent; a wrong one shows as HTTP 401', async (t) => {
  const token = 'audit-token-0123456789abcdef';
  const srv = await decisionsServer(t, () => ({ body: { records: [rec(0)] } }), token);
  const dir = mkdtempSync(join(tmpdir(), 'cp-cm-'));
  writeFileSync(join(dir, 'good'), `${token}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'bad'), 'wrong-token-0123456789', { mode: 0o600 });
  writeFileSync(join(dir, 'short'), 'short', { mode: 0o600 });
  const poll = async (file: string) => {
    const cp = await startControlPlane({ capsuleManager: { decisionsUrl: srv.url, tokenFile: join(dir, file) } }, { logger: silentLogger });
    t.teardown(() => cp.close());
    for (let i = 0; i < 50 && !cp.status().cmDecisions?.attemptedAt; i++) await new Promise((r) => setTimeout(r, 100));
    return cp.status().cmDecisions!;
  };
  t.equal((await poll('good')).records.length, 1, 'right token: records');
  t.match((await poll('bad')).error, /HTTP 401/, 'wrong token: error shown');
  await t.rejects(startControlPlane({ capsuleManager: { decisionsUrl: srv.url, tokenFile: join(dir, 'short') } }, { logger: silentLogger }), /capsuleManager.tokenFile must hold a token/);
  await t.rejects(startControlPlane({ capsuleManager: { decisionsUrl: srv.url, tokenFile: join(dir, 'missing') } }, { logger: silentLogger }), /capsuleManager.tokenFile .* cannot be read/);
});

t.test('config: decisionsUrl must be an http(s) URI; no capsuleManager -> cmDecisions null', async (t) => {
  await t.rejects(startControlPlane({ capsuleManager: { decisionsUrl: 'file:///etc/passwd' } }, { logger: silentLogger }), /decisionsUrl/);
  await t.rejects(startControlPlane({ capsuleManager: { decisionsUrl: 'not a url' } }, { logger: silentLogger }), /decisionsUrl/);
  await t.rejects(startControlPlane({ capsuleManager: { decisionsUrl: 'http://cm/x', pollSeconds: 0 } }, { logger: silentLogger }), /pollSeconds/);
  const cp = await startControlPlane({}, { logger: silentLogger });
  t.teardown(() => cp.close());
  t.equal(cp.status().cmDecisions, null);
});
