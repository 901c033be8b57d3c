import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../control-plane/cli.ts';

t.test('control-plane CLI: --help, missing/invalid config', async (t) => {
  t.equal(await main(['--help']), 0);
  t.equal(await main([]), 2, '--config is required');
  t.equal(await main(['--nope']), 2);
  const dir = mkdtempSync(join(tmpdir(), 'cp-cli-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'xds: { port: "x" }\nunknown: 1\n');
  t.equal(await main(['--config', bad]), 2, 'an invalid config file is refused before anything starts');
});
