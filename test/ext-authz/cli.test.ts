import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../ext-authz/cli.ts';
import { captureOutput } from '../helpers/capture-output.ts';

t.test('cli: help, missing flag, invalid config reports every error', async (t) => {
  const { value: codes, out, err } = await captureOutput(async () => {
    const codes = [await main(['--help']), await main([]), await main(['--bogus'])];
    const dir = mkdtempSync(join(tmpdir(), 'authz-cli-'));
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, 'grpc: {port: 0}\nnope: 1\npolicy: {rules: [{name: x, pathPrefix: nope}]}\n');
    codes.push(await main(['-c', cfg]));
    return codes;
  });
  // tap writes its own output to stdout: assert only after restoring it.
  t.same(codes, [0, 2, 2, 1], 'exit codes: help 0, usage errors 2, bad config 1');
  t.match(out, /usage: aenv ext-authz/);
  t.match(err, /--config is required/);
  t.match(err, /unknown property "nope"[\s\S]*pathPrefix/);
});
