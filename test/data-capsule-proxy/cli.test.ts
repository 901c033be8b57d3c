import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { grpcurlBin } from '../../dev/toolchain.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { main } from '../../data-capsule-proxy/cli.ts';
import { startDataCapsuleProxy } from '../../data-capsule-proxy/start.ts';
import { captureOutput } from '../helpers/capture-output.ts';

t.test('cli: help, offline encrypt/decrypt, errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dcp-cli-'));
  const help = await captureOutput(() => main(['--help']));
  t.equal(help.value, 0);
  t.match(help.out, /usage: data-capsule-proxy/);
  t.equal((await captureOutput(() => main(['--bogus']))).value, 2, 'unknown flag');
  t.equal((await captureOutput(() => main(['encrypt', 'a']))).value, 2, 'missing key file');
  const noRoots = await captureOutput(() => main([]));
  t.equal(noRoots.value, 1);
  t.match(noRoots.err, /localRoots/, 'serving without roots is a clear config error');

  writeFileSync(join(dir, 'key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'p.csv'), 'a,b\n1,2\n');
  t.equal((await captureOutput(() => main(['encrypt', '--key-file', join(dir, 'key'), join(dir, 'p.csv'), join(dir, 'p.csv.enc')]))).value, 0);
  t.equal((await captureOutput(() => main(['decrypt', '--key-file', join(dir, 'key'), join(dir, 'p.csv.enc'), join(dir, 'back.csv')]))).value, 0);
  t.equal(readFileSync(join(dir, 'back.csv'), 'utf8'), 'a,b\n1,2\n');
  writeFileSync(join(dir, 'other'), randomBytes(16).toString('base64'));
  const bad = await captureOutput(() => main(['decrypt', '--key-file', join(dir, 'other'), join(dir, 'p.csv.enc'), join(dir, 'nope.csv')]));
  t.equal(bad.value, 1);
  t.match(bad.err, /failed authentication/);
  t.notOk(existsSync(join(dir, 'nope.csv')));
});

t.test('gRPC reflection lists the DataCapsuleProxy service (grpcurl)', async (t) => {
  const dcp = await startDataCapsuleProxy({ localRoots: [tmpdir()], logLevel: 'silent' }, { logger: silentLogger });
  t.teardown(() => dcp.close());
  // async: the server runs in this process, a synchronous child would block it.
  const run = promisify(execFile);
  const { stdout: list } = await run(grpcurlBin(), ['-plaintext', `127.0.0.1:${dcp.grpcPort}`, 'list']);
  t.match(list, /secretflowapis\.v2\.sdc\.data_capsule_proxy\.DataCapsuleProxy/);
  const { stdout: desc } = await run(grpcurlBin(), ['-plaintext', `127.0.0.1:${dcp.grpcPort}`, 'describe', 'secretflowapis.v2.sdc.data_capsule_proxy.GetInputDataRequest']);
  t.match(desc, /oneof data_key_config/);
  t.match(desc, /json_name = "data_key_b64"/);
});
