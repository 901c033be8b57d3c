// `aenv control-plane`: runs the control plane from a config file until SIGINT/SIGTERM.
import { parseCliArgs } from '../foundation/cli-args.ts';
import { loadConfigFile } from '../foundation/config.ts';
import { ControlPlaneConfig } from './config.ts';
import { startControlPlane } from './start.ts';

const USAGE = `usage: aenv control-plane --config <file.yaml> [--xds-port <n>] [--api-port <n>]

  --config <file>    control-plane config (YAML/JSON; see docs/control-plane.md)
  --xds-port <n>     override xds.port
  --api-port <n>     override api.port
  --help             this text
`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(argv, { options: { config: { type: 'string' }, 'xds-port': { type: 'string' }, 'api-port': { type: 'string' }, help: { type: 'boolean', default: false } }, strict: true }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (!values.config) {
    process.stderr.write(`--config is required\n${USAGE}`);
    return 2;
  }
  let cfg;
  try {
    cfg = loadConfigFile(ControlPlaneConfig, values.config);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (values['xds-port']) cfg.xds = { ...cfg.xds, port: Number(values['xds-port']) };
  if (values['api-port']) cfg.api = { ...cfg.api, port: Number(values['api-port']) };
  const cp = await startControlPlane(cfg);
  process.stdout.write(`control plane: xDS ${cp.address}:${cp.xdsPort}, API ${cp.apiUrl}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await cp.close();
  return 0;
}
