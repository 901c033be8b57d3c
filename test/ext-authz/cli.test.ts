import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../ext-authz/cli.ts';

t.test('cli: help, missing flag, invalid config reports every error', async (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const codes: number[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    codes.push(await main(['--help']), await main([]), await main(['--bogus']));
    const dir = mkdtempSync(join(tmpdir(), 'authz-cli-'));
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, 'grpc: {port: 0}\nnope: 1\npolicy: {rules: [{name: x, pathPrefix: nope}]}\n');
    codes.push(await main(['-c', cfg]));
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  // tap writes its own output to stdout: assert only after restoring it.
  t.same(codes, [0, 2, 2, 1], 'exit codes: help 0, usage errors 2, bad config 1');
  t.match(out.join(''), /usage: aenv ext-authz/);
  t.match(err.join(''), /--config is required/);
  t.match(err.join(''), /unknown property "nope"[\s\S]*pathPrefix/);
});
