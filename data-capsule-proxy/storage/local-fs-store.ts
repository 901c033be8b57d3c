// DataStore over the local file system, confined to configured roots: every
// path is resolved (symlinks included, through its nearest existing ancestor)
// and must lie below one of them.
import { createReadStream, realpathSync } from 'node:fs';
import { mkdir, readdir, realpath, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TEMP_MARKER, writeFileAtomically } from './atomic-file.ts';
import type { DataStore, Listing, StoredObject } from '../core/data-store.ts';
import { DcpError } from '../errors.ts';

export class LocalFsStore implements DataStore {
  readonly kind = 'local' as const;
  readonly #roots: string[];

  constructor(roots: string[]) {
    if (roots.length === 0) throw new DcpError('PATH_NOT_ALLOWED', 'the local store needs at least one root directory');
    this.#roots = roots.map((r) => {
      try {
        return realpathSync(resolve(r));
      } catch {
        return resolve(r);
      }
    });
  }

  /** Resolves `p` and checks it is below a root (after resolving symlinks of its existing part). */
  async confine(p: string): Promise<string> {
    if (typeof p !== 'string' || p.length === 0 || p.includes('\0')) throw new DcpError('INVALID_REQUEST', 'a local path is empty or invalid');
    const abs = resolve(p);
    let existing = abs;
    const rest: string[] = [];
    for (;;) {
      try {
        existing = await realpath(existing);
        break;
      } catch {
        const parent = dirname(existing);
        if (parent === existing) break;
        rest.unshift(basename(existing));
        existing = parent;
      }
    }
    const real = join(existing, ...rest);
    if (!this.#roots.some((r) => real === r || real.startsWith(r.endsWith(sep) ? r : r + sep))) {
      throw new DcpError('PATH_NOT_ALLOWED', `path ${abs} is outside the proxy's allowed roots`);
    }
    return real;
  }

  async list(path: string): Promise<Listing> {
    const abs = await this.confine(path);
    const st = await stat(abs).catch(() => undefined);
    if (!st) throw new DcpError('SOURCE_NOT_FOUND', `${abs} does not exist`);
    if (st.isFile()) return { single: true, objects: [{ key: abs, rel: basename(abs), size: st.size }] };
    if (!st.isDirectory()) throw new DcpError('SOURCE_NOT_FOUND', `${abs} is neither a file nor a directory`);
    const objects: StoredObject[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
        if (e.name.includes(TEMP_MARKER) || e.name.startsWith('.dcp-stage-')) continue;
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile()) objects.push({ key: full, rel: relative(abs, full).split(sep).join('/'), size: (await stat(full)).size });
      }
    };
    await walk(abs);
    return { single: false, objects };
  }

  async read(key: string): Promise<Readable> {
    const abs = await this.confine(key);
    return createReadStream(abs);
  }

  async write(key: string, body: Readable, _size: number): Promise<void> {
    const abs = await this.confine(key);
    await mkdir(dirname(abs), { recursive: true, mode: 0o700 });
    await writeFileAtomically(abs, (sink) => pipeline(body, sink));
  }

  join(base: string, rel: string): string {
    return join(base, ...rel.split('/'));
  }

  async isContainer(path: string): Promise<boolean> {
    if (path.endsWith('/')) return true;
    const st = await stat(await this.confine(path)).catch(() => undefined);
    return st?.isDirectory() ?? false;
  }

  async remove(key: string): Promise<void> {
    await rm(await this.confine(key), { force: true });
  }
}
