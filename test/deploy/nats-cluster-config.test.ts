// The example NATS cluster files are exactly what dev/nats-cluster.ts
// renders for the documented ports, and nats-server accepts each of them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { natsClusterConfig, type NatsClusterNodeSpec } from '../../dev/nats-cluster.ts';
import { natsServerBin } from '../../dev/toolchain.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../examples/deploy/nats-cluster');

// The ports the README documents.
const DOCUMENTED_NODES: NatsClusterNodeSpec[] = [1, 2, 3].map((i) => ({ name: `aenv-${i}`, clientPort: 4221 + i, clusterPort: 6221 + i }));

t.test('each example node file equals natsClusterConfig() for the documented ports', async (t) => {
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  for (const node of DOCUMENTED_NODES) {
    const file = join(dir, `${node.name}.conf`);
    t.equal(readFileSync(file, 'utf8'), natsClusterConfig(node, DOCUMENTED_NODES, `./data/${node.name}`), `${node.name}.conf`);
    t.match(readme, new RegExp(`${node.name}\\s*\\|\\s*127\\.0\\.0\\.1:${node.clientPort}\\s*\\|\\s*127\\.0\\.0\\.1:${node.clusterPort}`), `README documents ${node.name}'s ports`);
  }
});

t.test('nats-server accepts every file (-t), and refuses a broken one', async (t) => {
  for (const node of DOCUMENTED_NODES) {
    const r = spawnSync(natsServerBin(), ['-t', '-c', `${node.name}.conf`], { cwd: dir, encoding: 'utf8' });
    t.equal(r.status, 0, `${node.name}.conf: exit 0`);
    t.match(`${r.stdout}${r.stderr}`, /is valid/, `${node.name}.conf is valid`);
  }
  // The check itself can fail: a truncated file is rejected.
  const broken = join(mkdtempSync(join(tmpdir(), 'nats-conf-')), 'broken.conf');
  writeFileSync(broken, readFileSync(join(dir, 'aenv-1.conf'), 'utf8').replace(/\}\s*$/, ''));
  const r = spawnSync(natsServerBin(), ['-t', '-c', broken], { encoding: 'utf8' });
  t.not(r.status, 0, 'an unbalanced config is refused');
});
