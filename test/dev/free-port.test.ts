import t from 'tap';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { freePort, freePorts } from '../../dev/free-port.ts';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

t.test('ports lie below the ephemeral range, are distinct and bindable', async (t) => {
  const ports = await freePorts(50);
  t.equal(new Set(ports).size, 50, 'no port handed out twice');
  t.ok(ports.every((p) => p >= 10_000 && p < ephemeralLow), `all in [10000, ${ephemeralLow})`);
  const p = await freePort();
  t.notOk(ports.includes(p), 'a later call does not repeat an earlier port');
  await new Promise<void>((resolve, reject) => {
    const srv = createServer().once('error', reject).listen(p, '127.0.0.1', () => srv.close(() => resolve()));
  });
  t.pass(`port ${p} binds`);
});

t.test('IPv6 loopback', async (t) => {
  const p = await freePort('::1');
  t.ok(p >= 10_000 && p < ephemeralLow);
});
