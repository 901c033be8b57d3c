import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../../foundation/logger.ts';

t.test('logger redacts key material and bodies at any depth', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const log = createLogger('test', { destination: sink, level: 'info' });
  log.info({ privateKey: 'PRIVATE-1', req: { body: 'PLAINTEXT-2', headers: { authorization: 'Bearer TOKEN-3' } }, deep: { a: { cek: 'CEK-4' } }, keep: 'visible' }, 'hello');
  const out = lines.join('');
  for (const s of ['PRIVATE-1', 'PLAINTEXT-2', 'TOKEN-3', 'CEK-4']) t.notMatch(out, s, `${s} is redacted`);
  t.match(out, /visible/);
  t.match(out, /\[redacted\]/);
  t.match(JSON.parse(lines[0]!), { name: 'test', msg: 'hello' });
});
