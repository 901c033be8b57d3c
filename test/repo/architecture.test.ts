// The architecture's one-way arrows (.dependency-cruiser.cjs) hold for the whole
// tree, every component has the same shape, and the checker itself catches
// each kind of violation (run on a small synthetic tree).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from '../../foundation/project-root.ts';

const ROOMS = ['foundation', 'net', 'dev', 'control-plane', 'ext-proc', 'ext-authz', 'ra-proxy', 'capsule-manager', 'data-capsule-proxy', 'tls-groups', 'platforms', 'envoy-bootstrap', 'client', 'examples', 'bench', 'scripts', 'bin'];
const SERVERS = ['control-plane', 'ext-proc', 'ext-authz', 'ra-proxy', 'capsule-manager', 'data-capsule-proxy'];
const LIBRARIES = ['tls-groups', 'platforms', 'envoy-bootstrap', 'client'];

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

function cruise(cwd: string, dirs: string[]): Violation[] {
  const bin = join(PROJECT_ROOT, 'node_modules/.bin/depcruise');
  let out: string;
  try {
    out = execFileSync(bin, ['--config', join(PROJECT_ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json', ...dirs], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    // depcruise exits non-zero when it finds violations; its JSON is still on stdout.
    out = (e as { stdout?: string }).stdout ?? '';
    if (!out) throw e;
  }
  return (JSON.parse(out) as { summary: { violations: Violation[] } }).summary.violations;
}

t.test('the tree has no dependency violation', async (t) => {
  const v = cruise(PROJECT_ROOT, ROOMS.filter((d) => existsSync(join(PROJECT_ROOT, d))));
  t.same(v.map((x) => `${x.rule.name}: ${x.from} -> ${x.to}`), [], 'no arrow runs the wrong way');
});

t.test('every component has one shape', async (t) => {
  const top = (c: string) => readdirSync(join(PROJECT_ROOT, c)).filter((f) => statSync(join(PROJECT_ROOT, c, f)).isFile() && f.endsWith('.ts'));
  for (const c of SERVERS) t.same(top(c).sort(), ['cli.ts', 'config.ts', 'errors.ts', 'index.ts', 'start.ts'], `${c}: cli, config, errors, index, start (the rest in core/, transport/, storage/)`);
  for (const c of LIBRARIES) {
    const files = top(c);
    t.ok(['errors.ts', 'index.ts', 'cli.ts'].every((f) => files.includes(f)), `${c}: errors, index, cli`);
    t.same(files.filter((f) => !['errors.ts', 'index.ts', 'cli.ts', 'config.ts', 'start.ts'].includes(f)), [], `${c}: nothing else at the top`);
  }
  for (const c of [...SERVERS, 'tls-groups', 'platforms', 'envoy-bootstrap']) t.ok(existsSync(join(PROJECT_ROOT, c, 'core')), `${c} has core/`);
  t.notOk(existsSync(join(PROJECT_ROOT, 'kernel')), 'no kernel/');
});

t.test('the checker catches each kind of violation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'arch-'));
  cpSync(join(PROJECT_ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  const file = (p: string, text: string) => {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  };
  file('foundation/errors.ts', `export const x = 1;\n`);
  file('net/grpc-server.ts', `import { y } from '../ext-proc/index.ts';\nexport const s = y;\n`);
  file('dev/free-port.ts', `export const p = 1;\n`);
  file('ext-proc/index.ts', `export { y } from './core/deep.ts';\n`);
  file('ext-proc/cli.ts', `export const main = 1;\n`);
  file('ext-proc/core/deep.ts', `import { s } from '../../net/grpc-server.ts';\nimport { p } from '../../dev/free-port.ts';\nimport { createServer } from 'node:http';\nexport const y = [s, p, createServer];\n`);
  file('ra-proxy/core/service.ts', `import { y } from '../../ext-proc/core/deep.ts';\nimport { main } from '../../ext-proc/cli.ts';\nimport { q } from './loop.ts';\nexport const r = [y, main, q];\n`);
  file('ra-proxy/core/loop.ts', `import { r } from './service.ts';\nexport const q = () => r;\n`);
  file('foundation/config.ts', `import { r } from '../ra-proxy/core/service.ts';\nexport const c = r;\n`);
  const rules = new Set(cruise(dir, ['foundation', 'net', 'dev', 'ext-proc', 'ra-proxy']).map((v) => v.rule.name));
  for (const r of ['component-public-face', 'cli-only-from-bin', 'foundation-stands-alone', 'net-on-foundation-only', 'no-dev-in-product', 'core-is-pure', 'core-no-network-modules', 'no-circular']) t.ok(rules.has(r), `${r} is caught`);
});
