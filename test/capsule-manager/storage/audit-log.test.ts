// The audit log survives a crash in the middle of a write: the torn last line
// (never acknowledged: lines are acknowledged after their fsync) is cut off at
// open, the chain before it is kept and goes on; a damaged line that is not
// the tail still refuses to open.
import t from 'tap';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAuditLog, verifyAuditLog } from '../../../capsule-manager/storage/audit-log.ts';
import { CmError } from '../../../capsule-manager/errors.ts';

const ev = (n: number) => ({ actor: 'alice', action: 'CreateDataKeys', target: `d-${n}`, decision: 'ok' as const });

t.test('a torn last line is cut; the chain goes on', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.log');
  let log = openAuditLog(path);
  for (let i = 0; i < 3; i++) await log.append(ev(i));
  await log.close();
  const intact = readFileSync(path, 'utf8');
  appendFileSync(path, '{"seq":4,"ts":"2026-12-06T00:00:00Z","actor":"ali'); // killed mid-write
  let cut = 0;
  log = openAuditLog(path, { onTornTail: (b) => (cut = b) });
  t.equal(cut, 49, 'the torn bytes were cut and reported');
  t.equal(readFileSync(path, 'utf8'), intact, 'the acknowledged lines are untouched');
  await log.append(ev(3));
  await log.close();
  const v = verifyAuditLog(path);
  t.ok(v.ok && v.count === 4, 'the chain verifies with the new record after the kept ones');
});

t.test('a damaged line before the tail still refuses to open', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.log');
  const log = openAuditLog(path);
  for (let i = 0; i < 3; i++) await log.append(ev(i));
  await log.close();
  const lines = readFileSync(path, 'utf8').split('\n');
  lines[1] = lines[1]!.replace('d-1', 'd-X');
  writeFileSync(path, lines.join('\n'));
  let err: unknown;
  try {
    openAuditLog(path);
  } catch (e) {
    err = e;
  }
  t.ok(CmError.is(err, 'STORE_CORRUPT'), 'STORE_CORRUPT');
  t.match((err as Error).message, /chain broken at line 2/, 'naming the line');
});
