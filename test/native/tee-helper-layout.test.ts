// The native helper's structs as compiled against the kernel uapi headers
// (`aenv-tee-helper layout`) must be what the TypeScript side assumes (TEE_ABI),
// and its ioctl numbers what _IOWR(type, nr, sizeof struct) gives for the sizes
// the drivers expect. The helper is built by scripts/setup.sh; missing = failure.
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';
import { TEE_ABI, teeHelperPath } from '../../platforms/transport/tee-helper.ts';

const run = promisify(execFile);

interface Layout {
  headers: string;
  structs: Record<string, { size: number; fields: Record<string, [number, number]> }>;
  ioctls: Record<string, number>;
  constants: Record<string, number>;
}

const IOC = (dir: number, type: string, nr: number, size: number) => ((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
const IOWR = (type: string, nr: number, size: number) => IOC(3, type, nr, size);

t.test('aenv-tee-helper layout equals the TypeScript ABI table', async (t) => {
  const helper = teeHelperPath();
  const { stdout } = await run(helper, ['layout']);
  const layout = JSON.parse(stdout) as Layout;
  t.same(layout.structs, TEE_ABI.structs, 'every struct size and field offset/size');
  t.same(layout.ioctls, TEE_ABI.ioctls, 'ioctl request numbers');
  t.same(layout.constants, TEE_ABI.constants, 'constants');
  // The request numbers follow from the struct sizes (what the drivers decode).
  const s = TEE_ABI.structs;
  t.equal(layout.ioctls.TDX_CMD_GET_REPORT0, IOWR('T', 1, s.tdx_report_req.size));
  t.equal(layout.ioctls.SNP_GET_REPORT, IOWR('S', 0, s.snp_guest_request_ioctl.size));
  t.equal(layout.ioctls.SNP_GET_EXT_REPORT, IOWR('S', 2, s.snp_guest_request_ioctl.size));
  t.equal(layout.ioctls.CSV_CMD_GET_REPORT, IOWR('D', 1, s.aenv_csv_report_req.size));
  t.equal(layout.ioctls.CSV_CMD_GET_REPORT, 0xc0104401, 'the number the Hygon driver decodes (documented value)');
  // Where each header came from, and that the claim is true.
  const origins = Object.fromEntries(layout.headers.split(',').map((e) => e.split(':') as [string, string]));
  t.same(Object.keys(origins).sort(), ['sev-guest.h', 'tdx-guest.h']);
  for (const [h, origin] of Object.entries(origins)) {
    if (origin === 'system') t.ok(existsSync(`/usr/include/linux/${h}`), `${h}: system header present`);
    else {
      t.equal(origin, 'vendored', `${h}: system or vendored`);
      t.notOk(existsSync(`/usr/include/linux/${h}`), `${h}: vendored only when the system lacks it`);
    }
  }
});

t.test('vendored uapi headers match their recorded provenance', async (t) => {
  const prov = readFileSync(join(PROJECT_ROOT, 'native/aenv-tee-helper/PROVENANCE.md'), 'utf8');
  const rows = [...prov.matchAll(/^\| `(uapi\/[^`]+)` \|.*\| `([0-9a-f]{64})` \|$/gm)];
  t.ok(rows.length >= 1, 'PROVENANCE.md lists the vendored files with their SHA-256');
  for (const [, file, sha] of rows) {
    const got = createHash('sha256').update(readFileSync(join(PROJECT_ROOT, 'native/aenv-tee-helper', file!))).digest('hex');
    t.equal(got, sha, `${file} is the recorded copy`);
  }
});

t.test('helper usage errors are clear and exit 2', async (t) => {
  const helper = teeHelperPath();
  const fails = async (args: string[], stdin: string) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = execFile(helper, args, (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
      // The helper may refuse (and exit) before it reads stdin: EPIPE is not the result.
      c.stdin!.on('error', () => undefined);
      c.stdin!.end(stdin);
    });
  const short = await fails(['snp-report', '--device', '/nonexistent'], 'ab'.repeat(63));
  t.equal(short.code, 2);
  t.match(JSON.parse(short.stderr), { error: /exactly 64 bytes/ });
  const nothex = await fails(['tdx-report', '--device', '/nonexistent'], 'zz');
  t.equal(nothex.code, 2);
  t.equal((await fails(['snp-report', '--vmpl', '4', '--device', '/x'], '')).code, 2, 'vmpl out of range');
  t.equal((await fails(['frobnicate'], '')).code, 2);
  const missing = await fails(['tdx-report', '--device', '/nonexistent/tdx_guest'], 'ab'.repeat(64));
  t.equal(missing.code, 1);
  t.match(JSON.parse(missing.stderr), { error: 'open', errno_name: 'ENOENT', device: '/nonexistent/tdx_guest' });
});
