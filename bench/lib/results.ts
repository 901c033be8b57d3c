// Where a benchmark's figures go, and what they measured: every results file
// records the commit, whether the tree was clean (bench/results/ aside: earlier
// benches of the same run rewrite it), node and the mode. `npm run bench --
// --quick` (BENCH_QUICK=1) runs every bench with tiny counts so it cannot rot:
// those figures mean nothing and go to bench/results/quick/ (not committed).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../foundation/project-root.ts';

export interface RunInfo {
  commit: string;
  /** No uncommitted change outside bench/results/ when the bench started. */
  clean: boolean;
  /** The changed paths when not clean (first 20). */
  changed?: string[];
  node: string;
  quick: boolean;
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

export const isQuick = (): boolean => process.env.BENCH_QUICK === '1';

export function runInfo(): RunInfo {
  let commit = 'unknown';
  let changed: string[] = [];
  try {
    commit = git(['rev-parse', 'HEAD']).trim();
    changed = git(['status', '--porcelain', '--untracked-files=normal'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3))
      .filter((p) => !p.startsWith('bench/results/'));
  } catch {
    changed = ['(not a git checkout)'];
  }
  return { commit, clean: changed.length === 0, ...(changed.length ? { changed: changed.slice(0, 20) } : {}), node: process.version, quick: isQuick() };
}

/** Captured when the bench starts (a tree edited during a run does not relabel it). */
const START = runInfo();

/** The results file of a bench: bench/results/<name>.json, or bench/results/quick/ in quick mode. */
export function resultPath(name: string): string {
  return join(PROJECT_ROOT, 'bench', 'results', ...(isQuick() ? ['quick'] : []), `${name}.json`);
}

/** Writes the figures with the run info first; returns the path. */
export function writeBenchResult(name: string, figures: Record<string, unknown>, path = resultPath(name)): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `${JSON.stringify({ run: START, ...figures }, null, 2)}\n`);
  return path;
}
