// examples/interact end to end: CM + alice's grant + bob and carol (each app,
// control plane, real Envoy); group leaves only over SDS; hello both ways; a
// third app without the grant refused; rotation under continuous traffic with
// zero failed requests; revocation stops renewal.
import t from 'tap';
import * as tls from 'node:tls';
import { Agent, request } from 'node:http';
import type { X509Certificate } from 'node:crypto';
import { freePorts } from '../../dev/free-port.ts';
import { startInteractDemo, envoyCertSerials, until, type AppSide } from '../../examples/interact/interact-demo.ts';
import { p256 } from './fixtures.ts';
import { issueGroupTlsAsset, findEvidenceExtension } from '../../tls-groups/index.ts';
import { SIM_CLAIMS, EVIDENCE_DIGEST } from './fixtures.ts';

function serialOf(side: AppSide): Promise<string> {
  return envoyCertSerials(side.envoy).then((s) => s[0] ?? '');
}

t.test('bob and carol say hello over group mTLS; dave is refused; rotation and revocation', async (t) => {
  const demo = await startInteractDemo({ names: ['bob', 'carol', 'dave'], grantees: ['bob', 'carol'] });
  t.teardown(() => demo.close());
  const [bi, be, ci, ce] = (await freePorts(4)) as [number, number, number, number];
  const bob = await demo.startSide('bob', 'carol', { ingressPort: bi, egressPort: be, peerIngressPort: ci });
  const carol = await demo.startSide('carol', 'bob', { ingressPort: ci, egressPort: ce, peerIngressPort: bi });

  const fromBob = await until('bob -> carol', async () => bob.hello('Hello from Bob!').catch(() => undefined));
  t.same(fromBob, { status: 200, body: 'Hello from Carol! (you said: Hello from Bob!)' });
  const fromCarol = await until('carol -> bob', async () => carol.hello('Hello from Carol!').catch(() => undefined));
  t.same(fromCarol, { status: 200, body: 'Hello from Bob! (you said: Hello from Carol!)' });

  // What Envoy serves is the CM-issued leaf: party URI of carol, evidence extension, short-lived.
  const [st] = carol.provider.status();
  t.equal(st?.state, 'active');
  const served = await new Promise<X509Certificate>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: ci, rejectUnauthorized: false }, () => {
      resolve(s.getPeerX509Certificate()!);
      s.destroy();
    });
    s.on('error', reject);
  });
  t.match(served.subjectAltName, `URI:${st!.groupUriPrefix}party/${demo.parties.carol!.partyId}`, 'carol\'s ingress serves her party leaf');
  t.match(served.subjectAltName, /URI:aenv:\/\/tee\/sim\?/, 'platform claims in the SAN');
  t.equal(findEvidenceExtension(served.raw)?.platform, 'sim', 'RA-TLS evidence extension present');
  t.equal(findEvidenceExtension(served.raw)?.evidenceDigest.length, 32);
  t.ok(Date.parse(served.validTo) - Date.now() <= 3600_000 + 5000, 'short-lived leaf');

  // dave: no grant -> the CM refuses him a leaf, so he has nothing to present.
  await t.rejects(demo.startSide('dave', 'bob', { peerIngressPort: bi }), { code: 'POLICY_DENIED' }, 'CM refuses dave (no "interact" grant)');
  // ... and anything else he could present is refused at bob's TLS layer.
  const foreign = p256();
  const other = await issueGroupTlsAsset({ dataKey: Buffer.alloc(32, 7), scope: 'default', dataUuid: 'other', partyId: demo.parties.dave!.partyId, subjectPublicKeyPem: foreign.publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST });
  for (const [what, creds] of [['no certificate', {}], ['another group\'s leaf', { cert: other.leafCertPem, key: foreign.privateKeyPem }]] as const) {
    const outcome = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: bi, rejectUnauthorized: false, ...creds }, () => s.write('POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi'));
      s.on('data', (d: Buffer) => resolve(`data: ${d.toString().slice(0, 40)}`));
      s.on('error', (e) => resolve(`error: ${e.message}`));
      s.on('close', () => resolve('closed'));
    });
    t.notMatch(outcome, /^data/, `dave with ${what} gets no answer from bob's app (${outcome})`);
  }

  // Rotation under continuous traffic: new handshakes per request plus one keep-alive connection.
  let ok = 0;
  const errors: string[] = [];
  let running = true;
  const loop = async () => {
    while (running) {
      try {
        const r = await bob.hello('ping');
        if (r.status === 200 && r.body.startsWith('Hello from Carol!')) ok++;
        else errors.push(`status ${r.status}: ${r.body.slice(0, 80)}`);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  };
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const keepAliveLoop = async () => {
    while (running) {
      try {
        const body = await new Promise<string>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: ce, path: '/hello', method: 'POST', agent }, (res) => {
            const c: Buffer[] = [];
            res.on('data', (d: Buffer) => c.push(d));
            res.on('end', () => resolve(Buffer.concat(c).toString()));
          });
          req.on('error', reject);
          req.end('keep');
        });
        if (body.startsWith('Hello from Bob!')) ok++;
        else errors.push(`keep-alive: ${body.slice(0, 80)}`);
      } catch (e) {
        errors.push(`keep-alive: ${(e as Error).message}`);
      }
    }
  };
  const loops = [loop(), loop(), keepAliveLoop()];
  const servedBefore = await serialOf(carol);
  for (let i = 0; i < 4; i++) {
    await bob.provider.rotate('interact');
    await carol.provider.rotate('interact');
    await new Promise((r) => setTimeout(r, 150));
  }
  const want = carol.rotations.at(-1)!.serial;
  await until('carol\'s Envoy serves the newest leaf', async () => (await serialOf(carol)) === want);
  await new Promise((r) => setTimeout(r, 200));
  running = false;
  await Promise.all(loops);
  agent.destroy();
  t.not(await serialOf(carol), servedBefore, 'Envoy switched to a new certificate');
  t.equal(bob.rotations.length, 5, 'bob rotated (1 initial + 4)');
  t.equal(carol.rotations.length, 5);
  t.ok(ok > 20, `continuous traffic flowed (${ok} requests)`);
  t.same(errors, [], 'zero failed requests through 8 rotations');

  // Revocation: alice removes carol's rule -> carol's renewal is refused; bob unaffected.
  await demo.revoke('carol');
  await t.rejects(carol.provider.rotate('interact'), { code: 'POLICY_DENIED' });
  t.equal(carol.provider.status()[0]?.state, 'denied');
  t.match(carol.denials[0], /interact-carol|not a grantee|no rule/);
  await bob.provider.rotate('interact');
  t.equal(bob.provider.status()[0]?.state, 'active', 'bob still renews');
});
