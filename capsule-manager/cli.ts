// `aenv capsule-manager <command>`: the data owner's CLI (like Trustflow's
// `cms`) plus `serve` for the capsule manager itself. Every owner command reads
// a YAML config (see OwnerConfigSchema, Trustflow's alice.yaml shape), verifies
// the CM's report before sending anything, and prints one JSON result line.
import { createPrivateKey, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCliArgs } from '../foundation/cli-args.ts';
import { loadConfigFile } from '../foundation/config.ts';
import { toPublicError } from '../foundation/errors.ts';
import { encryptFile } from '../data-capsule-proxy/index.ts';
import { CapsuleManagerClient } from './transport/client.ts';
import { exportAction, signVote } from './core/export-votes.ts';
import { partyIdOfCert } from './core/party-id.ts';
import { generatePartyKeys } from './core/party-keys.ts';
import { CmError } from './errors.ts';
import { runCapsuleManager } from './start.ts';
import { OwnerConfigSchema, type OwnerConfig } from './core/owner-config.ts';

const USAGE = `usage: aenv capsule-manager <command> [options]

server:
  serve -c <cm.yaml>                 run the capsule manager (gRPC :8888, HTTP API)

data owner (like Trustflow's cms; -c <owner.yaml>, see docs/capsule-manager.md):
  generate-party-keys --out <dir> [--name alice]
                                     RSA-2048 key (0600) + self-signed cert; prints party_id
  verify-cm -c <owner.yaml>          fetch and verify the CM's attestation report
  register-cert -c <owner.yaml>      register the party certificate (common.cert_pems_file)
  encrypt-file -c <owner.yaml> [--src f --dst f.enc --resource-uri u]
                                     encrypt into the .enc format with a fresh key and upload the key
  register-data-keys -c <owner.yaml> upload register_data_keys
  create-data-policy -c <owner.yaml> create register_data_policy
  add-data-rule -c <owner.yaml>      add add_data_rule.rule
  delete-data-rule -c <owner.yaml>   delete delete_data_rule.rule_id
  delete-data-policy -c <owner.yaml> delete delete_data_policy
  list-data-policy -c <owner.yaml>   list this party's policies (get_data_policys.scope)
  delete-data-key -c <owner.yaml>    delete delete_data_key.resource_uri
  sign-vote -c <owner.yaml> --resource-uri u --request-party-id p [--reject]
                                     print an export vote (compact JWS) for GetExportDataKey
  get-export-data-key -c <owner.yaml> --votes <file>
                                     fetch a result's key with every original owner's votes
`;

function out(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

function loadSigner(cfg: OwnerConfig): { privateKey: ReturnType<typeof createPrivateKey>; certChainPem: string[] } {
  const certChainPem = cfg.common.cert_pems_file.map((f) => readFileSync(f, 'utf8'));
  const privateKey = createPrivateKey(readFileSync(cfg.common.private_key_file));
  const id = partyIdOfCert(certChainPem[certChainPem.length - 1]!);
  if (cfg.common.party_id && cfg.common.party_id !== id) process.stderr.write(`warning: common.party_id ${cfg.common.party_id} differs from the certificate's party id ${id}\n`);
  return { privateKey, certChainPem };
}

function clientFor(cfg: OwnerConfig): CapsuleManagerClient {
  const trustedSimKeys = cfg.sim_public_key_file ? [readFileSync(cfg.sim_public_key_file, 'utf8')] : [];
  return new CapsuleManagerClient({
    address: cfg.host,
    signer: loadSigner(cfg),
    verify: {
      trustedSimKeys,
      policy: { allowInsecure: cfg.sim, allowUnknownTcb: cfg.allow_unknown_tcb, ...(cfg.tee_plat ? { platforms: [cfg.tee_plat] } : {}), ...(cfg.tee_constraints ? { measurements: cfg.tee_constraints } : {}) },
    },
  });
}

function need<T>(v: T | undefined, section: string): T {
  if (v === undefined) throw new CmError('INVALID_REQUEST', `the config has no "${section}" section`);
  return v;
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        out: { type: 'string' },
        name: { type: 'string' },
        src: { type: 'string' },
        dst: { type: 'string' },
        'resource-uri': { type: 'string' },
        'request-party-id': { type: 'string' },
        reject: { type: 'boolean' },
        votes: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values: v, positionals } = parsed;
  const cmd = positionals[0];
  if (!cmd) {
    process.stdout.write(USAGE);
    return 2;
  }
  try {
    if (cmd === 'serve') return await runCapsuleManager(need(v.config, '-c <cm.yaml>'));
    if (cmd === 'generate-party-keys') {
      const dir = need(v.out, '--out');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const name = v.name ?? 'party';
      const keyPath = join(dir, `${name}.key.pem`);
      if (existsSync(keyPath)) throw new CmError('ALREADY_EXISTS', `${keyPath} exists; not overwriting a private key`);
      const p = await generatePartyKeys(name);
      writeFileSync(keyPath, p.privateKeyPem, { mode: 0o600 });
      chmodSync(keyPath, 0o600);
      writeFileSync(join(dir, `${name}.crt`), p.certPem);
      out({ party_id: p.partyId, private_key_file: keyPath, cert_file: join(dir, `${name}.crt`) });
      return 0;
    }
    const cfg = loadConfigFile(OwnerConfigSchema, need(v.config, '-c <owner.yaml>'));
    if (cmd === 'sign-vote') {
      const signer = loadSigner(cfg);
      const uri = need(v['resource-uri'], '--resource-uri');
      const vote = await signVote({ type: 'TEE_DOWNLOAD', request_party_id: need(v['request-party-id'], '--request-party-id'), approved_action: exportAction(uri), action: v.reject ? 'REJECT' : 'APPROVE' }, signer);
      out({ vote });
      return 0;
    }
    const c = clientFor(cfg);
    try {
      switch (cmd) {
        case 'verify-cm': {
          const r = await c.connect();
          out({ verified: true, platform: r.claims?.platform, insecure: r.claims?.insecure, measurements: r.claims?.measurements, cert: r.certPem });
          return 0;
        }
        case 'register-cert':
          await c.registerCert();
          out({ registered: c.partyId });
          return 0;
        case 'encrypt-file': {
          const sec = cfg.encrypt_file;
          const src = v.src ?? need(sec, 'encrypt_file').source_file;
          const uri = v['resource-uri'] ?? need(sec, 'encrypt_file').resource_uri;
          const dst = v.dst ?? sec?.dest_file ?? `${src}.enc`;
          const key = randomBytes(sec?.key_bytes ?? 16);
          await c.connect(); // verify the CM before encrypting anything for it
          await encryptFile(src, dst, key);
          await c.createDataKeys([{ resource_uri: uri, data_key_b64: key.toString('base64') }]);
          key.fill(0);
          out({ encrypted: dst, resource_uri: uri });
          return 0;
        }
        case 'register-data-keys': {
          const s = need(cfg.register_data_keys, 'register_data_keys');
          if (s.resource_uris.length !== s.data_key_b64s.length) throw new CmError('INVALID_REQUEST', 'resource_uris and data_key_b64s must have the same length');
          await c.createDataKeys(s.resource_uris.map((u, i) => ({ resource_uri: u, data_key_b64: s.data_key_b64s[i]! })));
          out({ registered: s.resource_uris });
          return 0;
        }
        case 'create-data-policy': {
          const s = need(cfg.register_data_policy, 'register_data_policy');
          await c.createDataPolicy({ data_uuid: s.data_uuid, rules: s.rules }, s.scope);
          out({ created: s.data_uuid });
          return 0;
        }
        case 'add-data-rule': {
          const s = need(cfg.add_data_rule, 'add_data_rule');
          await c.addDataRule(s.data_uuid, s.rule, s.scope);
          out({ added: s.rule.rule_id });
          return 0;
        }
        case 'delete-data-rule': {
          const s = need(cfg.delete_data_rule, 'delete_data_rule');
          await c.deleteDataRule(s.data_uuid, s.rule_id, s.scope);
          out({ deleted: s.rule_id });
          return 0;
        }
        case 'delete-data-policy': {
          const s = need(cfg.delete_data_policy, 'delete_data_policy');
          await c.deleteDataPolicy(s.data_uuid, s.scope);
          out({ deleted: s.data_uuid });
          return 0;
        }
        case 'list-data-policy':
          out({ policies: await c.listDataPolicy(cfg.get_data_policys?.scope ?? '') });
          return 0;
        case 'delete-data-key': {
          const s = need(cfg.delete_data_key, 'delete_data_key');
          await c.deleteDataKey(s.resource_uri);
          out({ deleted: s.resource_uri });
          return 0;
        }
        case 'get-export-data-key': {
          const s = cfg.get_export_data_key;
          const uri = v['resource-uri'] ?? need(s, 'get_export_data_key').resource_uri;
          const votesFile = v.votes ?? need(s, 'get_export_data_key').data_export_certificate_file;
          const text = readFileSync(votesFile, 'utf8').trim();
          // Either a ready certificate {"votes": [...]} or one compact JWS per line.
          const certificate = text.startsWith('{') ? text : JSON.stringify({ votes: text.split(/\s+/).filter(Boolean) });
          out(await c.getExportDataKey(uri, certificate));
          return 0;
        }
        default:
          process.stderr.write(`unknown command ${cmd}\n${USAGE}`);
          return 2;
      }
    } finally {
      c.close();
    }
  } catch (e) {
    const pub = toPublicError(e);
    const msg = pub.body.code === 'INTERNAL' ? (e as Error).message : pub.body.message;
    process.stderr.write(`error: ${pub.body.code === 'INTERNAL' ? '' : `${pub.body.code}: `}${msg}\n`);
    return 1;
  }
}
