// Golden files of the tls-groups tests: compared byte-for-byte; regenerate
// deliberately with UPDATE_GOLDEN=1 (a change means every deployed group changes).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');

export function golden(name: string, actual: string): string {
  const p = join(DIR, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(p)) writeFileSync(p, actual);
  return readFileSync(p, 'utf8');
}
