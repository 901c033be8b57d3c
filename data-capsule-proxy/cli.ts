// `aenv data-capsule-proxy`: runs the proxy until SIGINT/SIGTERM, or encrypts /
// decrypts one `.enc` file offline.
import { parseCliArgs } from '../foundation/cli-args.ts';
import { readFileSync } from 'node:fs';
import { loadConfigFile, validateConfig } from '../foundation/config.ts';
import { AppError } from '../foundation/errors.ts';
import { DcpConfigSchema, type DcpConfig } from './config.ts';
import { decodeDataKeyB64, decryptFile, encryptFile } from './core/enc-format.ts';
import { startDataCapsuleProxy } from './start.ts';

const USAGE = `usage: data-capsule-proxy [serve] [--config <file>] [options]
       data-capsule-proxy encrypt|decrypt --key-file <file> <src> <dst>

serve (default):
  --config <file>       YAML/JSON config (see data-capsule-proxy/config.ts and
                        docs/offline.md; capsuleManager: {...} connects it to an attested CM)
  --root <dir>          allowed local root (repeatable; adds to config localRoots)
  --http-port <port>    HTTP port (default 0 = any free port)
  --grpc-port <port>    gRPC port (default 0)
  --host <addr>         bind address for both (default 127.0.0.1)

encrypt/decrypt (Trustflow .enc format, atomic output):
  --key-file <file>     file holding the data key as standard base64 (16 or 32 bytes)

  --help                this text
`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        root: { type: 'string', multiple: true },
        'http-port': { type: 'string' },
        'grpc-port': { type: 'string' },
        host: { type: 'string' },
        'key-file': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const cmd = positionals[0] ?? 'serve';
  if (cmd === 'encrypt' || cmd === 'decrypt') {
    if (!values['key-file'] || positionals.length !== 3) {
      process.stderr.write(`${cmd} needs --key-file <file> <src> <dst>\n${USAGE}`);
      return 2;
    }
    try {
      const key = decodeDataKeyB64(readFileSync(values['key-file'], 'utf8').trim());
      if (cmd === 'encrypt') await encryptFile(positionals[1]!, positionals[2]!, key);
      else await decryptFile(positionals[1]!, positionals[2]!, key);
      key.fill(0);
    } catch (e) {
      process.stderr.write(`data-capsule-proxy ${cmd}: ${e instanceof AppError ? e.message : (e as Error).message}\n`);
      return 1;
    }
    return 0;
  }
  if (cmd !== 'serve') {
    process.stderr.write(`unknown command ${cmd}\n${USAGE}`);
    return 2;
  }
  let handle;
  try {
    const base = values.config ? (loadConfigFile(DcpConfigSchema, values.config) as DcpConfig) : {};
    const cfg = structuredClone(base) as Record<string, Record<string, unknown>>;
    const roots = [...(((base as Partial<DcpConfig>).localRoots) ?? []), ...(values.root ?? [])];
    if (roots.length) (cfg as Record<string, unknown>).localRoots = roots;
    if (values['http-port']) cfg.http = { ...(cfg.http ?? {}), port: Number(values['http-port']) };
    if (values['grpc-port']) cfg.grpc = { ...(cfg.grpc ?? {}), port: Number(values['grpc-port']) };
    if (values.host) {
      cfg.http = { ...(cfg.http ?? {}), host: values.host };
      cfg.grpc = { ...(cfg.grpc ?? {}), host: values.host };
    }
    handle = await startDataCapsuleProxy(validateConfig(DcpConfigSchema, cfg, 'data-capsule-proxy config'));
  } catch (e) {
    process.stderr.write(`data-capsule-proxy: ${e instanceof AppError ? e.message : (e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`data-capsule-proxy: http 127.0.0.1:${handle.httpPort}${handle.grpcPort ? `, grpc :${handle.grpcPort}` : ''}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await handle.close();
  return 0;
}
