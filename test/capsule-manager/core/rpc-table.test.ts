// The RPC table is the service: every encrypted method of the proto service has
// exactly one entry (and nothing else does), each declares auth, schema and
// audit policy, and the one pipeline is the only place that writes the audit log.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CapsuleManagerService as CmProtoService } from '../../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { RPCS } from '../../../capsule-manager/core/rpcs/index.ts';
import { PROJECT_ROOT } from '../../../foundation/project-root.ts';

t.test('one entry per encrypted proto method', async (t) => {
  const proto = Object.values(CmProtoService).map((m) => m.path.split('/').pop()!).filter((n) => n !== 'GetRaCert').sort();
  t.same(RPCS.map((r) => r.name).sort(), proto);
  for (const r of RPCS) {
    t.ok(['signer', 'owner', 'registered-owner', 'attested-app'].includes(r.auth), `${r.name}: auth ${r.auth}`);
    t.equal(r.schema.type, 'object', `${r.name}: a request schema`);
    t.ok(r.auditErrors === 'target' || r.auditErrors === 'own', `${r.name}: audit policy ${r.auditErrors}`);
  }
  t.same(RPCS.filter((r) => r.auth === 'attested-app').map((r) => r.name).sort(), ['GetDataKeys', 'GetTlsAsset'], 'key releases need the attested cert');
});

t.test('only the pipeline appends to the audit log', async (t) => {
  const core = join(PROJECT_ROOT, 'capsule-manager/core');
  const files = readdirSync(core, { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
  const appending = files.filter((f) => /\baudit\.append\(/.test(readFileSync(join(core, f), 'utf8')));
  t.same(appending, ['rpc/pipeline.ts']);
});
