// Rewrites the Envoy bootstrap embedded in examples/deploy/k8s/confidential-app.yaml
// (ConfigMap aenv-envoy-bootstrap) from `aenv bootstrap` itself, so the manifest
// cannot drift from the generator (test/deploy/k8s-manifests.test.ts compares them).
//   node --import=tsx scripts/k8s-bootstrap.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../foundation/project-root.ts';
import { generateBootstrap, toYaml } from '../envoy-bootstrap/index.ts';

export const K8S_BOOTSTRAP_OPTIONS = { nodeId: 'confidential-app', cluster: 'confidential-app', xdsSocket: '/run/aenv/sockets/xds.sock', mode: 'delta', adminPort: 9901 } as const;

const file = join(PROJECT_ROOT, 'examples/deploy/k8s/confidential-app.yaml');
const text = readFileSync(file, 'utf8');
const start = text.indexOf('  bootstrap.yaml: |\n');
const end = text.indexOf('\n---', start);
if (start < 0 || end < 0) throw new Error('no bootstrap.yaml block in the ConfigMap');
const body = toYaml(generateBootstrap({ ...K8S_BOOTSTRAP_OPTIONS }))
  .trimEnd()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n');
writeFileSync(file, `${text.slice(0, start)}  bootstrap.yaml: |\n${body}${text.slice(end)}`);
process.stdout.write(`rewrote the bootstrap in ${file}\n`);
