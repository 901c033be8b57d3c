// tap glue for the real-Envoy harness: started per test, always killed.
import type { Test } from 'tap';
import { EnvoyProcess, type EnvoyStartOptions } from '../../dev/envoy-process.ts';

export async function startEnvoy(t: Test, opts: EnvoyStartOptions): Promise<EnvoyProcess> {
  const envoy = await EnvoyProcess.start(opts);
  t.teardown(() => envoy.stop());
  return envoy;
}

export { EnvoyProcess };
