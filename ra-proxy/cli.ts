// `aenv ra-proxy`: runs the RA proxy until SIGINT/SIGTERM.
import { pathToFileURL } from 'node:url';
import { parseCliArgs } from '../foundation/cli-args.ts';
import { loadConfigFile, validateConfig } from '../foundation/config.ts';
import { AppError } from '../foundation/errors.ts';
import { RaProxyConfigSchema, type RaProxyConfig } from './config.ts';
import { startRaProxy } from './start.ts';

const USAGE = `usage: ra-proxy [--config <file>] [options]

  --config <file>       YAML/JSON config (see ra-proxy/config.ts)
  --platform <name>     auto | sim | tdx | sgx | sev-snp | csv | tpm (overrides config)
  --http-port <port>    HTTP port (default 0 = any free port on 127.0.0.1)
  --grpc-port <port>    gRPC port (default 0)
  --host <addr>         bind address for both (default 127.0.0.1)
  --identity-dir <dir>  app identity key directory
  --sim-key-dir <dir>   sim signing key directory
  --help                this text
`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(
    argv,
    {
      options: {
        config: { type: 'string' },
        platform: { type: 'string' },
        'http-port': { type: 'string' },
        'grpc-port': { type: 'string' },
        host: { type: 'string' },
        'identity-dir': { type: 'string' },
        'sim-key-dir': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  let handle;
  try {
    const base: Record<string, unknown> = values.config ? (loadConfigFile(RaProxyConfigSchema, values.config) as RaProxyConfig) : {};
    const cfg = structuredClone(base) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (values.platform) cfg.platform = values.platform;
    if (values['identity-dir']) cfg.identityDir = values['identity-dir'];
    if (values['sim-key-dir']) cfg.sim = { ...(cfg.sim ?? {}), keyDir: values['sim-key-dir'] };
    if (values['http-port']) cfg.http = { ...(cfg.http ?? {}), port: Number(values['http-port']) };
    if (values['grpc-port']) cfg.grpc = { ...(cfg.grpc ?? {}), port: Number(values['grpc-port']) };
    if (values.host) {
      cfg.http = { ...(cfg.http ?? {}), host: values.host };
      cfg.grpc = { ...(cfg.grpc ?? {}), host: values.host };
    }
    handle = await startRaProxy(validateConfig(RaProxyConfigSchema, cfg, 'ra-proxy config'));
  } catch (e) {
    process.stderr.write(`ra-proxy: ${e instanceof AppError ? e.message : (e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`ra-proxy: http 127.0.0.1:${handle.httpPort}${handle.grpcPort ? `, grpc :${handle.grpcPort}` : ''}, platform ${handle.platform}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await handle.close();
  return 0;
}

// Direct run (`node --import=tsx <this file> ...`); `aenv` imports main instead.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
