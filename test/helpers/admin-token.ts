// Credentials for the admin APIs in tests: every change needs a bearer token
// (net/admin-guard.ts), so a test writes one to a 0600 file it passes as the
// component's tokenFile and sends it with each change.
import type { Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** A fresh private directory (removed at teardown) for a token file and sockets. */
export function privateDir(t: Test, prefix = 'aenv-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A bearer token file (0600) in dir. */
export function writeTokenFile(dir: string, name = 'api-token'): { token: string; tokenFile: string } {
  const token = randomBytes(24).toString('base64url');
  const tokenFile = join(dir, name);
  writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
  return { token, tokenFile };
}

/** Adds the bearer token to a fetch on a routing API. */
export function apiFetch(baseUrl: string, token: string) {
  return (method: string, path: string, body?: unknown) =>
    fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
}

/** A token file in a fresh private directory, and the header that sends it. */
export function adminToken(t: Test): { token: string; tokenFile: string; dir: string; headers: Record<string, string> } {
  const dir = privateDir(t, 'aenv-admin-');
  const { token, tokenFile } = writeTokenFile(dir);
  return { token, tokenFile, dir, headers: { authorization: `Bearer ${token}` } };
}
