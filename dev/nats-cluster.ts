// A JetStream cluster of nats-servers on loopback: what the multi-replica
// deployment runs (examples/deploy/nats-cluster) and what its tests start.
import { NatsProcess } from './nats-process.ts';
import { freePorts } from './free-port.ts';

export interface NatsClusterNodeSpec {
  name: string;
  clientPort: number;
  clusterPort: number;
}

/** The nats-server config file text for one node of the cluster. */
export function natsClusterConfig(node: NatsClusterNodeSpec, all: NatsClusterNodeSpec[], storeDir: string, clusterName = 'aenv'): string {
  const routes = all.filter((n) => n.name !== node.name).map((n) => `    nats://127.0.0.1:${n.clusterPort}`);
  return [
    `server_name: ${node.name}`,
    `listen: 127.0.0.1:${node.clientPort}`,
    'jetstream {',
    `  store_dir: "${storeDir}"`,
    '}',
    'cluster {',
    `  name: ${clusterName}`,
    `  listen: 127.0.0.1:${node.clusterPort}`,
    '  routes: [',
    ...routes,
    '  ]',
    '}',
    '',
  ].join('\n');
}

export class NatsCluster {
  private constructor(readonly nodes: NatsProcess[], readonly specs: NatsClusterNodeSpec[]) {}

  /** Client URLs of every node (clients get all of them and fail over). */
  get servers(): string[] {
    return this.specs.map((s) => `nats://127.0.0.1:${s.clientPort}`);
  }

  static async start(size = 3, name = 'aenv'): Promise<NatsCluster> {
    const ports = await freePorts(size * 2);
    const specs = Array.from({ length: size }, (_, i) => ({ name: `${name}-${i + 1}`, clientPort: ports[2 * i]!, clusterPort: ports[2 * i + 1]! }));
    const started = await Promise.allSettled(
      specs.map((s) =>
        NatsProcess.start({
          name: s.name,
          port: s.clientPort,
          cluster: { name, port: s.clusterPort, routes: specs.filter((o) => o !== s).map((o) => `nats://127.0.0.1:${o.clusterPort}`) },
          timeoutMs: 30_000,
        }),
      ),
    );
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // One node failed: stop the ones that started, so no orphan keeps running.
      await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
      throw failed.reason;
    }
    return new NatsCluster(started.map((r) => (r as PromiseFulfilledResult<NatsProcess>).value), specs);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
