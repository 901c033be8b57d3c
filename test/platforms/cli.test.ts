import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEphemeralAppIdentity } from '../../kernel/app-identity.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { main } from '../../platforms/cli.ts';
import { startRaProxy } from '../../ra-proxy/main.ts';
import { parseDcapQuote } from '../../platforms/dcap/quote.ts';
import { nowWithin, pemCerts, vector } from './vectors.ts';

function capture(): { out: string[]; err: string[]; restore(): void } {
  const out: string[] = [];
  const err: string[] = [];
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  return { out, err, restore: () => ((process.stdout.write = o), (process.stderr.write = e)) };
}

t.test('verify CLI against a running ra-proxy (sim)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vcli-'));
  const identity = await createEphemeralAppIdentity();
  const rp = await startRaProxy({ platform: 'sim', grpc: { enabled: false }, sim: { keyDir: join(dir, 'sim'), measurements: { mr_boot: 'aa'.repeat(32) } } }, { identity, logger: silentLogger });
  t.teardown(() => rp.close());
  const keyFile = join(dir, 'sim.pem');
  writeFileSync(keyFile, rp.simPublicKeyPem!);
  const url = `http://127.0.0.1:${rp.httpPort}`;
  const run = async (args: string[]) => {
    const c = capture();
    try {
      return { rc: await main(args), out: c.out.join(''), err: c.err.join('') };
    } finally {
      c.restore();
    }
  };
  const ok = await run(['--url', url, '--sim-key', keyFile, '--allow-insecure', '--expect', `mr_boot=${'aa'.repeat(32)}`, '--jwks']);
  t.equal(ok.rc, 0, ok.err);
  t.same(JSON.parse(ok.out), identity.jwks());
  const tf = await run(['--url', url, '--trustflow', '--sim-key', keyFile, '--allow-insecure']);
  t.equal(tf.rc, 0, tf.err);
  t.equal(JSON.parse(tf.out).cert, identity.certPem);
  const bad = await run(['--url', url, '--sim-key', keyFile, '--allow-insecure', '--expect', `mr_boot=${'bb'.repeat(32)}`]);
  t.equal(bad.rc, 1);
  t.match(bad.err, /POLICY_REJECTED: .*measurement mr_boot: expected bbbb/);
  const insecure = await run(['--url', url, '--sim-key', keyFile]);
  t.equal(insecure.rc, 1);
  t.match(insecure.err, /insecure/);
  t.equal((await run(['--document', 'x'])).rc, 2);
  // raw evidence from real hardware (TDX v4 vector), time pinned inside its chain
  const ev = join(dir, 'tdx.json');
  writeFileSync(ev, JSON.stringify({ platform: 'tdx', quote: vector('tdx_v4.dat').toString('base64') }));
  const now = nowWithin(pemCerts(parseDcapQuote(vector('tdx_v4.dat')).cert.pckChainPem)).toISOString();
  const okTdx = await run(['--evidence', ev, '--now', now]);
  t.equal(okTdx.rc, 0, okTdx.err);
  const mrTd = JSON.parse(okTdx.out).claims.measurements.mr_td as string;
  t.equal((await run(['--evidence', ev, '--now', now, '--expect', `mr_td=${mrTd}`])).rc, 0);
  const wrong = await run(['--evidence', ev, '--now', now, '--expect', `mr_td=${'00'.repeat(48)}`]);
  t.equal(wrong.rc, 1);
  t.match(wrong.err, /measurement mr_td/);
  const expired = await run(['--evidence', ev, '--now', '2099-01-01T00:00:00Z']);
  t.match(expired.err, /CERT_EXPIRED/);
  // Hygon CSV with the full chain from files
  const csv = join(dir, 'csv.json');
  writeFileSync(csv, JSON.stringify({ platform: 'csv', quote: vector('csv_report.cert').toString('base64'), aux: { hsk_cek: vector('hsk_cek.cert').toString('base64') } }));
  const hrkFile = join(dir, 'hrk.cert');
  writeFileSync(hrkFile, vector('hrk.cert'));
  const okCsv = await run(['--evidence', csv, '--hygon-hrk', hrkFile]);
  t.equal(okCsv.rc, 0, okCsv.err);
  t.equal(JSON.parse(okCsv.out).claims.extra.chain, 'hrk');
  t.equal((await run(['--evidence', ev, '--tcb-info', csv])).rc, 1, '--tcb-info needs its chain');
  t.equal((await run(['--help'])).rc, 0);
});
