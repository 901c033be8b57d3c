// Atomic file replacement: write to a temp file (0600) beside the destination,
// fsync it, rename it over the destination and fsync the directory. A reader of
// the destination sees the old file or the complete new one, never a partial
// write; on failure the temp file is removed and the destination is untouched.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';

export interface AtomicWriteOptions {
  /** File mode of the result; plaintext and ciphertext alike default to 0600. */
  mode?: number;
}

/** Temp files carry this marker so callers (and tests) can recognise leftovers. */
export const TEMP_MARKER = '.dcp-tmp-';

/**
 * Runs `produce` with a writable on a fresh temp file and, if it resolves, moves
 * the file to `dst`. Resolves with the number of bytes written.
 */
export async function writeFileAtomically(dst: string, produce: (sink: Writable) => Promise<void>, opts: AtomicWriteOptions = {}): Promise<number> {
  const abs = resolve(dst);
  const dir = dirname(abs);
  const tmp = join(dir, `.${basename(abs)}${TEMP_MARKER}${randomUUID()}`);
  // 'wx': never follow or reuse an existing path; flush: fsync before close.
  const sink = createWriteStream(tmp, { flags: 'wx', mode: opts.mode ?? 0o600, flush: true, highWaterMark: 256 * 1024 });
  // pipeline() reports the sink's errors; this keeps one that fires before
  // `produce` attached (e.g. EEXIST) from becoming an uncaught exception.
  sink.on('error', () => undefined);
  try {
    await produce(sink);
    if (!sink.closed) await once(sink, 'close');
    await rename(tmp, abs);
    await syncDir(dir);
    return sink.bytesWritten;
  } catch (e) {
    sink.destroy();
    if (!sink.closed) await once(sink, 'close').catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** Makes the rename durable; some file systems refuse fsync on a directory, which is harmless. */
async function syncDir(dir: string): Promise<void> {
  let dh;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch {
    // EISDIR/EINVAL/EPERM on exotic file systems: the rename itself already happened.
  } finally {
    await dh?.close().catch(() => undefined);
  }
}
