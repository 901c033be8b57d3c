// `aenv demo` (what `npm start` runs): start everything, run the scenario once,
// print what happened and where to look, keep running until Ctrl-C.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../../kernel/toolchain.ts';
import { startDemo, runDemoScenario } from './demo.ts';
import { DEFAULT_PORTS, autoPorts } from './ports.ts';

const USAGE = `usage: aenv demo [--ports default|auto] [--dir <state dir>] [--once] [--xds sotw|delta]

Starts the capsule manager, ra-proxy, control plane, ext-proc, ext-authz, the
sample app and real Envoy on one machine (sim platform, file store), runs the
online scenario once with the client and an attested key release, prints what
happened and keeps running until Ctrl-C.

  --ports default   the embedded defaults (Envoy :8443, admin :9901, xDS :18000,
                    API/status :18001, CM :8888/:8889, ra-proxy :8890, ext-proc
                    :9101, ext-authz :9102, app :8000)
  --ports auto      free ports chosen at start
  --dir <dir>       state directory (default: a new one under run/)
  --once            exit after the scenario (tests, CI)
  --xds <mode>      ADS flavour Envoy uses (default delta)
`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ports: { type: 'string', default: 'default' },
      dir: { type: 'string' },
      once: { type: 'boolean', default: false },
      xds: { type: 'string', default: 'delta' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.ports !== 'default' && values.ports !== 'auto') throw new Error(`--ports must be default or auto, not ${values.ports}`);
  if (values.xds !== 'sotw' && values.xds !== 'delta') throw new Error(`--xds must be sotw or delta, not ${values.xds}`);
  const ports = values.ports === 'auto' ? await autoPorts() : DEFAULT_PORTS;
  mkdirSync(join(PROJECT_ROOT, 'run'), { recursive: true, mode: 0o700 });
  const dir = values.dir ?? mkdtempSync(join(PROJECT_ROOT, 'run', 'demo-'));
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say('aenv demo: starting every component on 127.0.0.1 (sim platform: development only, no hardware root of trust)\n');
  const demo = await startDemo({ ports, dir, say, xdsMode: values.xds });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('\nstopping...');
    await demo.close();
    say('stopped cleanly.');
  };
  try {
    say('\nthe online scenario, once:');
    await runDemoScenario(demo, say);
  } catch (e) {
    await stop();
    throw e;
  }
  if (values.once) {
    await stop();
    return 0;
  }
  say(`\nrunning (state in ${dir}). Try:`);
  for (const l of demo.tryNext) say(`  ${l}`);
  say('\nCtrl-C stops everything.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stop();
  return 0;
}
