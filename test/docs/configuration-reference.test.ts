import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';
import { render, SECTIONS } from '../../scripts/config-reference.ts';

t.test('docs/configuration.md is generated from the current schemas', async (t) => {
  const committed = readFileSync(join(PROJECT_ROOT, 'docs/configuration.md'), 'utf8');
  t.equal(committed, render(), 'stale: run node --import=tsx scripts/config-reference.ts');
  for (const s of SECTIONS) t.match(committed, `## ${s.title}`, `${s.title} is documented`);
});
