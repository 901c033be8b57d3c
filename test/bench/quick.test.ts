// `npm run bench -- --quick`: every benchmark runs end to end with tiny counts
// (no thresholds: the figures mean nothing here), so a bench cannot rot unseen.
// Each writes its results file under bench/results/quick/ with the commit it
// measured and whether the tree was clean.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../foundation/project-root.ts';

const BENCHES = ['xds-fanout', 'ext-proc-envelope', 'cm-getdatakeys', 'groups-rotation', 'dcp-stream'];
const quickDir = join(PROJECT_ROOT, 'bench', 'results', 'quick');

t.test('every bench runs in --quick mode within 2 minutes and records its commit', { timeout: 200_000 }, async (t) => {
  rmSync(quickDir, { recursive: true, force: true });
  const t0 = Date.now();
  const r = spawnSync('bash', ['scripts/bench.sh', '--quick'], { cwd: PROJECT_ROOT, encoding: 'utf8', env: { ...process.env, BENCH_SKIP_SETUP: '1' }, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
  const seconds = (Date.now() - t0) / 1000;
  t.equal(r.status, 0, `npm run bench -- --quick exits 0 (${seconds.toFixed(0)} s)${r.status === 0 ? '' : `\n${(r.stderr || r.stdout).slice(-3000)}`}`);
  t.ok(seconds < 120, `all benches in ${seconds.toFixed(0)} s (< 120 s)`);
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).stdout.trim();
  for (const name of BENCHES) {
    const file = join(quickDir, `${name}.json`);
    t.ok(existsSync(file), `${name} wrote bench/results/quick/${name}.json`);
    if (!existsSync(file)) continue;
    const out = JSON.parse(readFileSync(file, 'utf8')) as { run?: { commit: string; clean: boolean; quick: boolean } };
    t.equal(out.run?.commit, head, `${name} records the commit it measured`);
    t.equal(typeof out.run?.clean, 'boolean', `${name} records whether the tree was clean`);
    t.equal(out.run?.quick, true, `${name} is marked quick`);
    t.match(r.stdout, new RegExp(`== bench/${name}\\.ts \\(quick\\)`), `${name} ran`);
  }
  // Real results stay where they are: quick figures never overwrite them.
  for (const name of BENCHES) t.ok(existsSync(join(PROJECT_ROOT, 'bench', 'results', `${name}.json`)), `bench/results/${name}.json untouched`);
});
