import t from 'tap';
import { appraise } from '../../platforms/core/appraisal.ts';
import type { Claims } from '../../platforms/core/types.ts';

const base: Claims = {
  platform: 'tdx',
  measurements: { mr_td: 'aa'.repeat(48), rtmr3: 'bb'.repeat(48) },
  reportData: '01'.padEnd(128, '0'),
  tcb: { status: 'Unknown', svn: { snp: 3 } },
  debug: false,
  insecure: false,
  checks: [],
};

t.test('appraisal lists every failed condition', async (t) => {
  t.same(appraise(base, { measurements: { mr_td: ['cc'.repeat(48), 'AA'.repeat(48)] }, reportData: '01', allowUnknownTcb: true }), { ok: true, failures: [] });
  const r = appraise({ ...base, debug: true, tcb: { status: 'Revoked', svn: { snp: 1 } } }, {
    platforms: ['sgx'],
    measurements: { mr_td: 'cc'.repeat(48), mr_enclave: '00' },
    reportData: '02',
    minTcbSvn: { snp: 2, tee: 1 },
  });
  t.equal(r.ok, false);
  t.equal(r.failures.length, 8, r.failures.join('\n'));
  t.match(r.failures.join('\n'), /platform tdx is not accepted/);
  t.match(r.failures.join('\n'), /debug/);
  t.match(r.failures.join('\n'), /measurement mr_td: expected cccc/);
  t.match(r.failures.join('\n'), /no mr_enclave/);
  t.match(r.failures.join('\n'), /Revoked/);
  t.match(r.failures.join('\n'), /snp: 1 is below the minimum 2/);
  t.match(r.failures.join('\n'), /report data/);
  t.same(appraise(base, { acceptedTcbStatuses: ['UpToDate'] }).failures, ['TCB status Unknown is not accepted (accepted: UpToDate)']);
});
