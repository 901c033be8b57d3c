// `aenv ext-authz` entry point.
import { parseArgs } from 'node:util';
import { toPublicError } from '../kernel/errors.ts';
import { runExtAuthz } from './main.ts';

const USAGE = `usage: aenv ext-authz --config <file.yaml>

Envoy ext_authz gRPC server: checks the downstream peer certificate against
communication-group membership, revocations and path policy, and optional
bearer JWTs. Prints {"grpcPort","httpPort"} as JSON once listening.

  -c, --config <file>   YAML/JSON config (see ext-authz/config.ts, docs/groups.md)
  -h, --help            this text`;

export async function main(argv: string[]): Promise<number> {
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.config) {
    process.stderr.write(`--config is required\n${USAGE}\n`);
    return 2;
  }
  try {
    await runExtAuthz(values.config);
    return 0;
  } catch (e) {
    process.stderr.write(`ext-authz: ${toPublicError(e).body.message}\n`);
    return 1;
  }
}
