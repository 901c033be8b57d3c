import t from 'tap';
import { pollUntil } from '../../foundation/poll.ts';

t.test('returns the first truthy probe result, tolerating throws and falsy results before it', async (t) => {
  let n = 0;
  const v = await pollUntil('the third probe', async () => {
    n++;
    if (n === 1) throw new Error('not up yet');
    return n === 3 ? { n } : false;
  }, { stepMs: 1 });
  t.same(v, { n: 3 });
  t.equal(n, 3, 'no probe after success');
});

t.test('times out naming what it waited for and the last probe error', async (t) => {
  const started = Date.now();
  await t.rejects(pollUntil('the moon', async () => { throw new Error('connection refused'); }, { timeoutMs: 60, stepMs: 5 }), { message: 'timed out waiting for the moon (last error: connection refused)' });
  t.ok(Date.now() - started >= 60, 'waited the whole timeout');
  await t.rejects(pollUntil('nothing', async () => undefined, { timeoutMs: 30, stepMs: 5 }), { message: 'timed out waiting for nothing' });
});

t.test('stepMs spaces the probes', async (t) => {
  let n = 0;
  await t.rejects(pollUntil('never', async () => { n++; return false; }, { timeoutMs: 200, stepMs: 50 }));
  t.ok(n >= 2 && n <= 5, `about timeout/step probes (${n})`);
});
