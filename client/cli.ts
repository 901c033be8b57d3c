// `aenv client`: the online scenario's client (attest the app, send a sealed
// message, print the decrypted reply), or Trustflow's client steps with --trustflow.
import { readFileSync } from 'node:fs';
import { parseCliArgs } from '../foundation/cli-args.ts';
import type { ContentEnc } from '../ext-proc/index.ts';
import { ClientError } from './errors.ts';
import { runOnlineClient, runTrustflowClient } from './transport/online-client.ts';

const USAGE = `usage: online-client --url URL (--sim-key FILE | --trust-served-sim-key) [--message hello]
       [--key rsa|x25519|p256] [--alg RSA-OAEP-256|ECDH-ES|ECDH-ES+A256KW] [--enc A128GCM|A256GCM]
       [--compat rfc7516|trustflow] [--path /] [--measurement name=hex ...] [--session MSG ...]
       [--allow-unknown-tcb]
       online-client --trustflow --url URL --sim-key FILE [--path /teeapp] [--message hello]

Attests the app behind Envoy (sim platform: --allow-insecure is implied by a sim key),
sends the message in a JWE envelope and prints the decrypted reply.
--trust-served-sim-key fetches the sim key from /.well-known/sim-key: demo only, it
proves nothing.
--allow-unknown-tcb accepts a hardware TEE whose TCB status is Unknown (no collateral
established its TCB level); without it such evidence is rejected.
--trustflow runs Trustflow's client steps (GetRaCert, Trustflow's envelope form) against
an ingress whose ext-proc is in compat: trustflow (the demo's, default port 50001).`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(
    argv,
    {
      options: {
        url: { type: 'string' }, message: { type: 'string', default: 'hello' }, path: { type: 'string' },
        key: { type: 'string', default: 'rsa' }, alg: { type: 'string' }, enc: { type: 'string', default: 'A128GCM' },
        compat: { type: 'string', default: 'rfc7516' }, 'sim-key': { type: 'string', multiple: true },
        'trust-served-sim-key': { type: 'boolean' }, measurement: { type: 'string', multiple: true },
        session: { type: 'string', multiple: true }, trustflow: { type: 'boolean' }, 'allow-unknown-tcb': { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' }, help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  if (!v.url) {
    process.stderr.write(`--url is required\n${USAGE}\n`);
    return 2;
  }
  try {
    const trustedSimKeys = (v['sim-key'] ?? []).map((f) => readFileSync(f, 'utf8'));
    if (v['trust-served-sim-key']) {
      const r = await fetch(`${v.url.replace(/\/$/, '')}/.well-known/sim-key`);
      if (!r.ok) throw new ClientError('ATTESTATION_UNAVAILABLE', `sim-key: HTTP ${r.status}`);
      trustedSimKeys.push(await r.text());
    }
    const measurements = Object.fromEntries((v.measurement ?? []).map((m) => m.split('=', 2) as [string, string]));
    const policy = { allowInsecure: trustedSimKeys.length > 0, allowUnknownTcb: v['allow-unknown-tcb'] === true, ...(Object.keys(measurements).length ? { measurements } : {}) };
    const out = v.trustflow
      ? await runTrustflowClient({ url: v.url, message: v.message!, path: v.path, trustedSimKeys, policy })
      : await runOnlineClient({
      url: v.url, message: v.message!, path: v.path, key: v.key as 'rsa', alg: v.alg as 'ECDH-ES' | undefined, enc: v.enc as ContentEnc,
      compat: v.compat as 'rfc7516', trustedSimKeys, sessionMessages: v.session, policy,
    });
    if (v.verbose) process.stderr.write(`attested: platform ${out.claims.platform}, key ${out.kid}\n`);
    process.stdout.write(`${out.reply}\n`);
    for (const r of out.sessionReplies) process.stdout.write(`${r}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`online-client: ${(e as Error).message}\n`);
    return 1;
  }
}

