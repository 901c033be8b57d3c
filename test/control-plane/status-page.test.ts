// The status page rendered by a real headless Chromium: it fetches /v1/status
// and shows the connected node, its ACKed versions and its last NACK.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumBin } from '../../kernel/toolchain.ts';
import { silentLogger } from '../../kernel/logger.ts';
import { startControlPlane } from '../../control-plane/server.ts';
import { TYPE } from '../../control-plane/xds/type-urls.ts';
import { adsClient, sotw } from './xds-fixtures.ts';
import { routeSample } from './plugin-samples.ts';

t.test('headless Chromium renders nodes, ACKs and the last NACK', async (t) => {
  const cp = await startControlPlane({ id: 'page-cp', app: { plugins: [routeSample()] } }, { logger: silentLogger });
  t.teardown(() => cp.close());
  const client = adsClient(cp.xdsPort);
  t.teardown(() => client.close());
  const s = sotw(client);
  t.teardown(() => s.call.end());
  s.send({ node: { id: 'page-node', cluster: 'c' }, typeUrl: TYPE.cluster });
  const r = await s.q.next();
  s.send({ typeUrl: TYPE.cluster, versionInfo: r.versionInfo, responseNonce: r.nonce });
  s.send({ typeUrl: TYPE.listener });
  const l = await s.q.next();
  s.send({ typeUrl: TYPE.listener, versionInfo: '', responseNonce: l.nonce, errorDetail: { code: 3, message: 'listener refused for the page test' } });
  await new Promise((res) => setTimeout(res, 200));

  const profile = mkdtempSync(join(tmpdir(), 'chromium-'));
  const { stdout } = await promisify(execFile)(
    chromiumBin(),
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--virtual-time-budget=5000', '--dump-dom', `${cp.apiUrl}/status`],
    { encoding: 'utf8', timeout: 40_000, maxBuffer: 10 * 1024 * 1024 },
  );
  t.match(stdout, /data-loaded="true"/, 'the page loaded the status JSON');
  t.match(stdout, /page-node/, 'node shown');
  t.match(stdout, new RegExp(r.versionInfo), 'ACKed cluster version shown');
  t.match(stdout, /listener refused for the page test/, 'last NACK shown with error_detail');
  t.match(stdout, /page-cp/);
});
