// tap glue for a real nats-server (JetStream), always killed after the test.
import type { Test } from 'tap';
import { NatsProcess, type NatsStartOptions } from '../../dev/nats-process.ts';

export async function startNats(t: Test, opts: NatsStartOptions = {}): Promise<NatsProcess> {
  const nats = await NatsProcess.start(opts);
  t.teardown(() => nats.stop());
  return nats;
}

export { NatsProcess };
