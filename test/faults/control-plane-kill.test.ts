// Fault: the control plane killed with SIGKILL under steady load, then restarted.
//
// The control plane runs as its own OS process (`node bin/aenv.js
// control-plane --config cp.yaml`) with a `route` app config; real Envoy starts
// from the generated bootstrap only, so everything it serves came over ADS.
// Load: 16 workers (half on kept-alive connections, half opening a new
// connection per request), at most 100 requests/s, at most 4000 requests, at
// most 50 s (typically ~1000 in ~10 s). Once over SotW ADS, once over delta ADS.
//
// What must hold, for each mode:
// - Envoy notices the loss (control_plane.connected_state 0) and keeps serving
//   its last config: 0 failed requests while the control plane is gone;
// - after a restart with the same config Envoy reconnects (connected_state 1),
//   and the control plane's /v1/status shows the node ACKing every type it was
//   sent (ackedVersion == sentVersion), with no NACK and no rejected update;
// - the resync does not touch the listener (no modification, so nothing is
//   drained), and there are still 0 failed requests over the whole run.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePorts } from '../../dev/free-port.ts';
import { generateBootstrap, type XdsMode } from '../../envoy-bootstrap/index.ts';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { startAenvProcess } from '../helpers/aenv-process.ts';
import { sleep, startLoad, waitUntil } from '../helpers/load.ts';

interface TypeStatus {
  sentVersion?: string;
  ackedVersion?: string;
  lastNack?: unknown;
}
interface NodeStatus {
  nodeId: string;
  streams: number;
  types: Record<string, TypeStatus>;
}

async function nodeStatus(apiUrl: string, nodeId: string): Promise<NodeStatus | undefined> {
  const r = await fetch(`${apiUrl}/v1/status`, { signal: AbortSignal.timeout(2000) });
  const doc = (await r.json()) as { nodes: NodeStatus[] };
  return doc.nodes.find((n) => n.nodeId === nodeId);
}

/**
 * The node is connected and has ACKed every type it was sent (LDS, RDS, CDS, EDS at least).
 * After a restart a SotW Envoy that already holds the current versions is sent nothing;
 * the status must still show those versions as sent and ACKed (it showed "ACKed, never
 * sent" until control-plane/core/xds/status.ts got resumed()).
 */
function inSync(n: NodeStatus | undefined): boolean {
  if (!n || n.streams < 1) return false;
  const types = Object.values(n.types);
  return types.length >= 4 && types.every((s) => s.sentVersion !== undefined && s.ackedVersion === s.sentVersion);
}

for (const mode of ['sotw', 'delta'] as XdsMode[]) {
  t.test(`control plane kill -9 under load (${mode} ADS): Envoy keeps serving, reconnects, resyncs`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), `fault-cp-${mode}-`));
    const app = await startUpstream(t, (req, _body, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`upstream saw ${req.url}`);
    });
    const [xdsPort, apiPort, listenPort] = (await freePorts(3)) as [number, number, number];
    const cfgFile = join(dir, 'cp.yaml');
    writeFileSync(cfgFile, stringify({
      id: `fault-cp-${mode}`,
      xds: { host: '127.0.0.1', port: xdsPort },
      api: { host: '127.0.0.1', port: apiPort },
      logLevel: 'warn',
      app: {
        plugins: [{
          plugin: 'route',
          name: 'edge',
          config: {
            listener: { address: '127.0.0.1', port: listenPort },
            clusters: [{ name: 'svc', endpoints: [{ address: '127.0.0.1', port: app.port }] }],
            routes: [{ name: 'all', match: { prefix: '/' }, cluster: 'svc' }],
          },
        }],
      },
    }));
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const cp = await startAenvProcess(t, { name: 'control-plane', args: ['control-plane', '--config', cfgFile], ready: /control plane: xDS/ });
    const nodeId = `fault-${mode}`;
    const envoy = await startEnvoy(t, { name: `fault-cp-${mode}`, bootstrap: generateBootstrap({ nodeId, cluster: 'fault', xdsAddress: '127.0.0.1', xdsPort, mode, adminPort: 0 }) });
    await envoy.waitForStat('listener_manager.total_listeners_active', (v) => (v ?? 0) >= 1, 15_000);
    await envoy.waitForStat('cluster.svc.membership_healthy', (v) => (v ?? 0) >= 1, 15_000);
    await waitUntil('the node in sync before the kill', async () => inSync(await nodeStatus(apiUrl, nodeId).catch(() => undefined)), 10_000, 50);
    const before = await envoy.stats('^listener_manager\\.');

    const load = startLoad({
      concurrency: 16,
      maxRequests: 4000,
      maxMs: 50_000,
      maxRate: 100,
      fn: async (i, worker) => {
        const res = await fetch(`http://127.0.0.1:${listenPort}/r/${i}`, { headers: worker % 2 ? { connection: 'close' } : {}, signal: AbortSignal.timeout(5000) });
        const body = await res.text();
        if (res.status !== 200 || body !== `upstream saw /r/${i}`) throw new Error(`HTTP ${res.status}: ${body.slice(0, 100)}`);
        return res.status;
      },
    });
    t.teardown(() => load.stop());

    await load.completions(100);
    const killAt = Date.now();
    await cp.kill();
    const lostIn = await waitUntil('Envoy to notice the lost control plane', async () => (await envoy.stat('control_plane.connected_state')) === 0, 10_000, 20);
    t.comment(`Envoy saw the control plane gone after ${lostIn} ms`);
    await sleep(1000);
    const restartAt = Date.now();
    await cp.restart();
    const readyAt = Date.now();
    const reconnectedIn = await waitUntil('Envoy reconnected (connected_state 1)', async () => (await envoy.stat('control_plane.connected_state')) === 1, 30_000, 20);
    const syncedIn = await waitUntil('the node ACKing everything it was sent', async () => inSync(await nodeStatus(apiUrl, nodeId).catch(() => undefined)), 15_000, 20);
    t.comment(`control plane down ${readyAt - killAt} ms (restart ${readyAt - restartAt} ms); Envoy reconnected ${reconnectedIn} ms after it was back, in sync ${syncedIn} ms later`);
    await load.completions(200);
    const outcomes = await load.stop();

    const failed = outcomes.filter((o) => o.error).map((o) => `#${o.i}: ${(o.error as Error).message}`);
    t.same(failed, [], `0 failed requests out of ${outcomes.length}`);
    const whileDown = outcomes.filter((o) => o.start > killAt && o.end < readyAt);
    t.ok(whileDown.length >= 100, `${whileDown.length} requests were served while the control plane was down`);
    const afterSync = outcomes.filter((o) => o.start > readyAt + reconnectedIn + syncedIn);
    t.ok(afterSync.length >= 100, `${afterSync.length} requests were served after the resync`);

    const n = (await nodeStatus(apiUrl, nodeId))!;
    t.ok(inSync(n), 'status: node connected, ackedVersion == sentVersion for every type');
    t.same(Object.entries(n.types).filter(([, s]) => s.lastNack).map(([k]) => k), [], 'status: no NACK after the restart');
    const after = await envoy.stats('^listener_manager\\.');
    for (const s of ['listener_manager.lds.update_rejected', 'listener_manager.listener_modified', 'listener_manager.listener_removed']) {
      t.equal(after.get(s), before.get(s), `${s} unchanged by the resync (${after.get(s)})`);
    }
    t.equal(await envoy.stat('cluster_manager.cds.update_rejected'), 0, 'no CDS update rejected');
    t.equal(await envoy.stat('control_plane.connected_state'), 1, 'Envoy is connected at the end');
  });
}
