// Runs the offline scenario once in a temp directory and prints each step.
//   node --import=tsx examples/offline/main.ts [--keep]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOfflineScenario } from './scenario.ts';

const workDir = mkdtempSync(join(tmpdir(), 'aenv-offline-'));
try {
  const out = await runOfflineScenario({ workDir, onStep: (s) => console.log(`- ${s}`) });
  console.log(`\nintersection: ${out.intersection.join(', ')}`);
  console.log(`round 1 (bob did not grant alice): alice ${out.round1.allowed ? 'got' : 'was refused'} the result`);
  console.log(`round 2 (bob granted alice):       alice ${out.round2.allowed ? 'got' : 'was refused'} the result`);
  process.exitCode = !out.round1.allowed && out.round2.allowed ? 0 : 1;
} finally {
  if (!process.argv.includes('--keep')) rmSync(workDir, { recursive: true, force: true });
  else console.log(`state kept in ${workDir}`);
}
