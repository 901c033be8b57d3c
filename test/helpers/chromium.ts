// Headless Chromium (Debian package) for page checks: the rendered DOM after the
// page's scripts ran, and a PNG screenshot. Flags as this machine needs them:
// no sandbox (root), no GPU, no background networking (closed network).
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromiumBin } from '../../dev/toolchain.ts';

const run = promisify(execFile);

function flags(): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${mkdtempSync(join(tmpdir(), 'chromium-'))}`,
    '--virtual-time-budget=5000',
  ];
}

export async function renderedDom(url: string): Promise<string> {
  const { stdout } = await run(chromiumBin(), [...flags(), '--dump-dom', url], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

export async function screenshot(url: string, path: string, size = '1280,1000'): Promise<void> {
  await run(chromiumBin(), [...flags(), `--window-size=${size}`, `--screenshot=${path}`, url], { timeout: 60_000 });
}
