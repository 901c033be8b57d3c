// The one CLI entry point: `aenv <command> [options]`. Each command lives in its
// component's cli.ts (a `main(argv) -> exit code`); this table is the explicit
// list, loaded lazily so `aenv --help` starts fast.
type Main = (argv: string[]) => Promise<number>;

interface Command {
  name: string;
  summary: string;
  load: () => Promise<Main>;
}

export const COMMANDS: readonly Command[] = [
  { name: 'demo', summary: 'run the whole system on one machine with real Envoy (what `npm start` runs)', load: async () => (await import('../dev/demo/cli.ts')).main },
  { name: 'control-plane', summary: 'xDS server (ADS SotW/delta, SDS), plugins, dynamic routing API, status page', load: async () => (await import('../control-plane/cli.ts')).main },
  { name: 'bootstrap', summary: 'generate the bootstrap.yaml that `envoy -c bootstrap.yaml` runs', load: async () => (await import('../envoy-bootstrap/cli.ts')).main },
  { name: 'ext-proc', summary: 'Envoy external processor: the JWE digital envelope', load: async () => (await import('../ext-proc/cli.ts')).main },
  { name: 'ext-authz', summary: 'Envoy external authorizer: peer identity, groups, policy, JWT', load: async () => (await import('../ext-authz/cli.ts')).main },
  { name: 'ra-proxy', summary: 'attestation reports (Trustflow GetRaCert, /.well-known/attestation)', load: async () => (await import('../ra-proxy/cli.ts')).main },
  { name: 'capsule-manager', summary: 'the key broker server (`serve`) and the data owner CLI (like Trustflow cms)', load: async () => (await import('../capsule-manager/cli.ts')).main },
  { name: 'cms', summary: 'alias of `capsule-manager` for data owners', load: async () => (await import('../capsule-manager/cli.ts')).main },
  { name: 'data-capsule-proxy', summary: 'offline TEE task proxy: fetch and decrypt inputs, encrypt and register results', load: async () => (await import('../data-capsule-proxy/cli.ts')).main },
  { name: 'tls-groups', summary: 'communication-group TLS assets (inspect, fetch for SDS)', load: async () => (await import('../tls-groups/cli.ts')).main },
  { name: 'client', summary: 'online scenario client: attest the app, send an encrypted message, print the reply', load: async () => (await import('../client/cli.ts')).main },
  { name: 'app', summary: 'the sample app ("I got your message: <body>")', load: async () => (await import('../dev/sample-app.ts')).main },
  { name: 'verify', summary: 'verify an attestation report against expected measurements; print the trusted app key', load: async () => (await import('../platforms/cli.ts')).main },
  { name: 'collateral', summary: 'Intel TCB collateral on disk: fetch from Intel PCS or a PCCS, show what a directory holds', load: async () => (await import('../platforms/index.ts')).collateralMain },
];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: aenv <command> [options]     (aenv <command> --help for its options)',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`aenv: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await cmd.load())(rest);
}
