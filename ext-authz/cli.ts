// `aenv ext-authz` entry point.
import { parseCliArgs } from '../foundation/cli-args.ts';
import { toPublicError } from '../foundation/errors.ts';
import { runExtAuthz } from './start.ts';

const USAGE = `usage: aenv ext-authz --config <file.yaml>

Envoy ext_authz gRPC server: checks the downstream peer certificate against
communication-group membership, revocations and path policy, and optional
bearer JWTs. Prints {"grpcPort","httpPort"} as JSON once listening.

  -c, --config <file>   YAML/JSON config (see ext-authz/config.ts, docs/groups.md)
  -h, --help            this text`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(argv, { options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
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
