// `aenv bootstrap`: writes a bootstrap.yaml for an Envoy driven by the control plane.
import { writeFileSync } from 'node:fs';
import { parseCliArgs } from '../foundation/cli-args.ts';
import { generateBootstrap, toYaml, type XdsMode } from './core/bootstrap.ts';
import { BootstrapError } from './errors.ts';

const USAGE = `usage: aenv bootstrap --node-id <id> --cluster <name> --xds-port <port> [options]

  --node-id <id>         Envoy node id (the control plane keys snapshots by it)
  --cluster <name>       Envoy node cluster
  --xds-address <host>   control plane address (default 127.0.0.1)
  --xds-port <port>      control plane xDS gRPC port
  --xds-socket <path>    the control plane's Unix socket instead (co-located Envoy)
  --xds-tls-cert <f> --xds-tls-key <f> --xds-tls-ca <f>
                         mutual TLS to a remote control plane (the cert names the node)
  --mode <sotw|delta>    ADS flavour (default sotw)
  --admin-port <port>    Envoy admin port on 127.0.0.1 (default 9901)
  --max-heap-mb <n>      overload manager heap budget (default 1024)
  --max-connections <n>  overload manager downstream connection budget (default 10000)
  --out <file>           write here instead of stdout
  --help                 this text
`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCliArgs(
    argv,
    {
      options: {
        'node-id': { type: 'string' },
        cluster: { type: 'string' },
        'xds-address': { type: 'string', default: '127.0.0.1' },
        'xds-port': { type: 'string' },
        'xds-socket': { type: 'string' },
        'xds-tls-cert': { type: 'string' },
        'xds-tls-key': { type: 'string' },
        'xds-tls-ca': { type: 'string' },
        mode: { type: 'string', default: 'sotw' },
        'admin-port': { type: 'string' },
        'max-heap-mb': { type: 'string' },
        'max-connections': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  try {
    const yaml = toYaml(
      generateBootstrap({
        nodeId: values['node-id'] ?? '',
        cluster: values.cluster ?? '',
        ...(values['xds-socket'] !== undefined ? { xdsSocket: values['xds-socket'] } : { xdsAddress: values['xds-address'] ?? '127.0.0.1', xdsPort: Number(values['xds-port']) }),
        ...(values['xds-tls-cert'] || values['xds-tls-key'] || values['xds-tls-ca'] ? { xdsTls: { certFile: values['xds-tls-cert'] ?? '', keyFile: values['xds-tls-key'] ?? '', caFile: values['xds-tls-ca'] ?? '' } } : {}),
        mode: values.mode as XdsMode,
        ...(values['admin-port'] !== undefined ? { adminPort: Number(values['admin-port']) } : {}),
        ...(values['max-heap-mb'] !== undefined ? { maxHeapBytes: Number(values['max-heap-mb']) * 1024 * 1024 } : {}),
        ...(values['max-connections'] !== undefined ? { maxDownstreamConnections: Number(values['max-connections']) } : {}),
      }),
    );
    if (values.out) writeFileSync(values.out, yaml, { mode: 0o644 });
    else process.stdout.write(yaml);
    return 0;
  } catch (e) {
    if (BootstrapError.is(e)) {
      process.stderr.write(`${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}
