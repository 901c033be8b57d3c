// `aenv demo` (what `npm start` runs): start everything, run the scenario once,
// print what happened and where to look, keep running until Ctrl-C.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { shutdownSignal } from '../../foundation/shutdown-signal.ts';
import { PROJECT_ROOT } from '../toolchain.ts';
import { startDemo, runDemoScenario } from './demo.ts';
import { DEFAULT_PORTS, autoPorts } from './ports.ts';

const USAGE = `usage: aenv demo [--ports default|auto] [--dir <state dir>] [--once] [--xds sotw|delta]

Starts the capsule manager, ra-proxy, control plane, ext-proc, ext-authz, the
sample app and real Envoy on one machine (sim platform, file store), runs the
online scenario once with the client and an attested key release, prints what
happened and keeps running until Ctrl-C.

  --ports default   the embedded defaults (Envoy :8443 and :50001 (Trustflow
                    clients), admin :9901, API/status :18001, CM :8888/:8889,
                    app :8000); xDS/SDS, ext-proc, ext-authz and ra-proxy are
                    Unix sockets in <state dir>/run (0700), admin tokens in
                    <state dir>/tokens
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
  // Installed before anything starts: a signal (or npm going away) during start-up
  // stops what has started, instead of killing the process and orphaning Envoy.
  const shutdown = shutdownSignal();
  try {
    say('aenv demo: starting every component on 127.0.0.1 (sim platform: development only, no hardware root of trust)\n');
    let demo: Awaited<ReturnType<typeof startDemo>>;
    try {
      demo = await startDemo({ ports, dir, say, xdsMode: values.xds, signal: shutdown.signal });
    } catch (e) {
      if (shutdown.signal.aborted) {
        say(`\nstopped during start-up (${String(shutdown.signal.reason)}); everything that had started is stopped.`);
        return 130;
      }
      throw e;
    }
    const stop = async (why: string) => {
      say(`\nstopping (${why})...`);
      await demo.close();
      say('stopped cleanly.');
    };
    try {
      say('\nthe online scenario, once:');
      await runDemoScenario(demo, say);
    } catch (e) {
      await stop(shutdown.signal.aborted ? String(shutdown.signal.reason) : 'the scenario failed');
      throw e;
    }
    if (values.once || shutdown.signal.aborted) {
      await stop(shutdown.signal.aborted ? String(shutdown.signal.reason) : '--once');
      return 0;
    }
    say(`\nrunning (state in ${dir}). Try:`);
    for (const l of demo.tryNext) say(`  ${l}`);
    say('\nCtrl-C stops everything.');
    await stop(await shutdown.stopped);
    return 0;
  } finally {
    shutdown.dispose();
  }
}
