// kill -9 in the middle of writes: every write the store acknowledged before the
// kill is there after a restart.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FileStore } from '../../../capsule-manager/storage/file-store.ts';

async function runAndKill(dir: string, afterAcks: number, round: number): Promise<{ acked: Set<number>; updated: Set<number> }> {
  const child = spawn(process.execPath, ['--import=tsx', join(import.meta.dirname, 'fixtures/crash-writer.ts'), dir, String(round)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acked = new Set<number>();
  const updated = new Set<number>();
  let buf = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        const [kind, n] = l.split(' ');
        (kind === 'ack' ? acked : updated).add(Number(n));
      }
      if (acked.size >= afterAcks && child.exitCode === null && !child.killed) {
        child.kill('SIGKILL');
      }
    });
    child.on('exit', () => resolve());
  });
  return { acked, updated };
}

t.test('kill -9 mid-write loses nothing acknowledged (two rounds)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-crash-'));
  for (const round of [1, 2]) {
    const { acked, updated } = await runAndKill(dir, 120, round);
    t.ok(acked.size >= 120, `round ${round}: ${acked.size} writes acknowledged before the kill`);
    const s = await FileStore.open({ dir });
    let missing = 0;
    for (const i of acked) {
      const e = await s.get(`crash${round}.k${i}`);
      if (!e) missing++;
      else if (updated.has(i) && !e.value.toString().startsWith('updated-')) missing++;
    }
    t.equal(missing, 0, `round ${round}: every acknowledged write survived`);
    // the store is writable again after the crash
    await s.create(`after.${round}`, Buffer.from('x'));
    await s.close();
  }
});
