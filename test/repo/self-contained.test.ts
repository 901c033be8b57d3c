// The repository is self-contained: a clone with nothing beside it passes its
// tests. Every attestation vector is listed in PROVENANCE.md with its hash, and
// no file of the project refers to a folder outside the repository.
import t from 'tap';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';

const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures', 'attestation');

t.test('every attestation vector is listed in PROVENANCE.md with its SHA-256, and nothing else is there', async (t) => {
  const table = readFileSync(join(FIXTURES, 'PROVENANCE.md'), 'utf8');
  const rows = new Map<string, { source: string; licence: string; sha256: string }>();
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | file | what | source | path | licence | `sha256` |
    if (cells.length !== 8 || !/^`[0-9a-f]{64}`$/.test(cells[6]!)) continue;
    rows.set(cells[1]!, { source: cells[3]!, licence: cells[5]!, sha256: cells[6]!.slice(1, -1) });
  }
  // Vectors may sit in subfolders (collateral/<source>/...): rows name them by their path in this folder.
  const files = (readdirSync(FIXTURES, { recursive: true }) as string[]).map((f) => f.split('\\').join('/')).filter((f) => f !== 'PROVENANCE.md' && statSync(join(FIXTURES, f)).isFile());
  t.ok(files.length >= 20, `${files.length} vectors`);
  t.same([...rows.keys()].sort(), files.sort(), 'the table lists exactly the files present');
  for (const f of files) {
    const row = rows.get(f);
    if (!row) continue;
    t.equal(createHash('sha256').update(readFileSync(join(FIXTURES, f))).digest('hex'), row.sha256, `${f}: hash matches its row`);
    t.match(row.source, /^[\w.-]+\/[\w.-]+$/, `${f}: names its source project`);
    t.ok(row.licence.length > 0, `${f}: names its licence`);
  }
});

/** The project's files: git's list in a checkout, else a walk without installed or generated trees. */
function projectFiles(): string[] {
  try {
    return execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  } catch {
    const skip = new Set(['node_modules', '.venv', '.tools', '.git', '.setup', '.tap', 'run', 'gen']);
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (skip.has(e.name)) continue;
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else out.push(relative(PROJECT_ROOT, p));
      }
    };
    walk(PROJECT_ROOT);
    return out;
  }
}

t.test('no file of the project refers to the workspace folder outside the repository', async (t) => {
  // Built from parts so this file does not match itself.
  const name = 'shar' + 'ed';
  const patterns = [new RegExp(`\\.\\.[\\\\/]${name}\\b`), new RegExp(`['"]\\.\\.['"]\\s*,\\s*['"]${name}['"]`)];
  const files = projectFiles().filter((f) => {
    try {
      return statSync(join(PROJECT_ROOT, f)).isFile() && statSync(join(PROJECT_ROOT, f)).size < 4 * 1024 * 1024;
    } catch {
      return false;
    }
  });
  t.ok(files.length > 100, `${files.length} files scanned`);
  const offenders = files.filter((f) => {
    const text = readFileSync(join(PROJECT_ROOT, f), 'latin1');
    return patterns.some((p) => p.test(text));
  });
  t.same(offenders, [], 'no file names the folder beside the repository');
});
