// `aenv ext-proc`: runs the JWE envelope ext_proc server.
import { parseCliArgs } from '../foundation/cli-args.ts';
import { parseConfigText } from '../foundation/config.ts';
import { readFileSync } from 'node:fs';
import { startExtProc } from './start.ts';

const USAGE = `usage: ext-proc [--config FILE] [--port N | --socket PATH] [--http-port N] [--identity-dir DIR]
                [--compat rfc7516|trustflow] [--plain allow|reject] [--max-body-bytes N]

Envoy ext_proc server that decrypts JWE envelopes to the app and encrypts its
responses (docs/ext-proc.md). Flags override the config file. --socket serves the
co-located Envoy on a Unix socket (mode 0660) instead of TCP.`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(
    argv,
    {
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        socket: { type: 'string' },
        'http-port': { type: 'string' },
        'identity-dir': { type: 'string' },
        compat: { type: 'string' },
        plain: { type: 'string' },
        'max-body-bytes': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  try {
    const cfg = (values.config ? parseConfigText(readFileSync(values.config as string, 'utf8'), values.config as string) : {}) as Record<string, unknown>;
    const num = (v: unknown): number => (/^\d+$/.test(String(v)) ? Number(v) : NaN);
    if (values.port !== undefined) cfg.grpc = { ...(cfg.grpc as object), port: num(values.port) };
    if (values.socket !== undefined) cfg.grpc = { ...(cfg.grpc as object), socket: values.socket };
    if (values['http-port'] !== undefined) cfg.http = { ...(cfg.http as object), port: num(values['http-port']) };
    if (values['identity-dir'] !== undefined) cfg.identityDir = values['identity-dir'];
    if (values.compat !== undefined) cfg.compat = values.compat;
    if (values.plain !== undefined) cfg.plain = values.plain;
    if (values['max-body-bytes'] !== undefined) cfg.maxBodyBytes = num(values['max-body-bytes']);
    // Envoy resets every finished ext_proc stream, and Node's http2 builds an Error
    // (and reads its .stack) per reset: with tsx's source maps on, formatting that
    // stack was ~8% of ext-proc CPU under load (cpu profile). Stacks of this process
    // then show transpiled positions; logs carry messages only.
    if (!process.env.AENV_SOURCE_MAPS) process.setSourceMapsEnabled(false);
    const h = await startExtProc(cfg);
    process.stdout.write(`ext-proc gRPC on ${h.address}${h.httpPort ? `, http on 127.0.0.1:${h.httpPort}` : ''}\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await h.close();
    return 0;
  } catch (e) {
    process.stderr.write(`ext-proc: ${(e as Error).message}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
