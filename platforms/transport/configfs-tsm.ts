// configfs-tsm (Linux 6.7+): one report = mkdir an entry under
// <root>/sys/kernel/config/tsm/report, write inblob (REPORT_DATA), read outblob
// (and auxblob for SNP), check `generation` did not move between our write and
// our read (another writer would have changed inblob), rmdir.
// Reads wait briefly for an attribute to appear: in the kernel they exist with
// the directory, while an emulated tree (tests) fills them from a watcher.
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rmdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PlatformError } from '../errors.ts';

export const TSM_REPORT_DIR = 'sys/kernel/config/tsm/report';

export interface TsmReport {
  provider: string;
  outblob: Buffer;
  auxblob?: Buffer;
}

export async function tsmAvailable(root: string): Promise<boolean> {
  try {
    await access(join(root, TSM_REPORT_DIR));
    return true;
  } catch {
    return false;
  }
}

async function readAttr(dir: string, name: string, waitMs: number, optional = false): Promise<Buffer | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const b = await readFile(join(dir, name));
      if (b.length > 0 || optional) return b;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new PlatformError('DEVICE_ERROR', `configfs-tsm: reading ${name} failed (${code})`, { cause: e });
    }
    if (Date.now() >= deadline) {
      if (optional) return undefined;
      throw new PlatformError('DEVICE_ERROR', `configfs-tsm: ${name} did not appear`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface TsmRequest {
  inblob: Buffer;
  /** Expected provider (tdx_guest, sev_guest); another one is an error. */
  provider: string;
  privlevel?: number;
  wantAux?: boolean;
  waitMs?: number;
}

export async function tsmGetReport(root: string, req: TsmRequest): Promise<TsmReport> {
  const base = join(root, TSM_REPORT_DIR);
  const dir = join(base, `aenv-${process.pid}-${randomBytes(4).toString('hex')}`);
  const waitMs = req.waitMs ?? 2000;
  try {
    await mkdir(dir);
  } catch (cause) {
    throw new PlatformError('DEVICE_ERROR', `configfs-tsm: cannot create a report entry in ${base}`, { cause });
  }
  try {
    const provider = (await readAttr(dir, 'provider', waitMs))!.toString('utf8').trim();
    if (provider !== req.provider) throw new PlatformError('NO_PLATFORM', `configfs-tsm provider is ${provider}, not ${req.provider}`);
    if (req.privlevel !== undefined) await writeFile(join(dir, 'privlevel'), String(req.privlevel));
    await writeFile(join(dir, 'inblob'), req.inblob);
    const gen1 = (await readAttr(dir, 'generation', waitMs, true))?.toString().trim();
    const outblob = (await readAttr(dir, 'outblob', waitMs))!;
    const auxblob = req.wantAux ? await readAttr(dir, 'auxblob', 0, true) : undefined;
    const gen2 = (await readAttr(dir, 'generation', waitMs, true))?.toString().trim();
    if (gen1 !== gen2) throw new PlatformError('DEVICE_ERROR', 'configfs-tsm: report entry was modified concurrently (generation changed); retry');
    return { provider, outblob, auxblob: auxblob && auxblob.length > 0 ? auxblob : undefined };
  } finally {
    // configfs removes attributes with the directory; a plain tree needs rm.
    await rmdir(dir).catch(() => rm(dir, { recursive: true, force: true }).catch(() => undefined));
  }
}
