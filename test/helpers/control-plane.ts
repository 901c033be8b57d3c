// A control plane for tests, set up the way an operator runs one: the routing
// API needs its bearer token (a 0600 file in a temporary directory), and xDS
// listens on a Unix socket (the only transport besides mTLS that serves
// secrets) unless `xds: 'tcp'`. `api()` calls the routing API with the token.
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiFetch, privateDir, writeTokenFile } from './admin-token.ts';
import type { Logger } from 'pino';
import { silentLogger } from '../../foundation/logger.ts';
import { startControlPlane, type ControlPlaneHandle } from '../../control-plane/start.ts';

export interface TestControlPlane extends ControlPlaneHandle {
  /** The routing API's bearer token. */
  token: string;
  tokenFile: string;
  /** fetch() on the routing API with the token (JSON body when `body` is given). */
  api(method: string, path: string, body?: unknown): Promise<Response>;
  /** The same, parsed: status and JSON body. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
}

export async function startTestControlPlane(
  t: Test,
  config: Record<string, any> = {},
  opts: { logger?: Logger; xds?: 'socket' | 'tcp'; dir?: string; close?: boolean } = {},
): Promise<TestControlPlane> {
  const dir = opts.dir ?? privateDir(t, 'aenv-cp-');
  const { token, tokenFile } = config.api?.tokenFile ? { token: readFileSync(config.api.tokenFile as string, 'utf8').trim(), tokenFile: config.api.tokenFile as string } : writeTokenFile(dir);
  const xds = opts.xds === 'tcp' || config.xds?.socket || config.xds?.tls ? config.xds : { ...config.xds, socket: join(dir, 'run', 'xds.sock') };
  const cp = await startControlPlane({ ...config, ...(xds ? { xds } : {}), api: { ...config.api, tokenFile } }, { logger: opts.logger ?? silentLogger });
  if (opts.close !== false) t.teardown(() => cp.close());
  const api = apiFetch(cp.apiUrl, token);
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await api(method, path, body);
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : undefined };
  };
  return Object.assign(cp, { token, tokenFile, api, call });
}
