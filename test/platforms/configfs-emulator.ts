// An emulated configfs-tsm tree in a temp dir: a watcher plays the kernel's part
// (provider and generation appear with a new report entry; writing inblob makes
// outblob/auxblob). Attesters are pointed at it through their `root` option.
import { mkdirSync, readFileSync, renameSync, watch, writeFileSync, existsSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { TSM_REPORT_DIR } from '../../platforms/transport/configfs-tsm.ts';

export interface TsmEmulator {
  root: string;
  requests: Array<{ inblob: Buffer; privlevel?: string }>;
  close(): void;
}

export function emulateTsm(root: string, provider: string, respond: (inblob: Buffer) => { outblob: Buffer; auxblob?: Buffer }): TsmEmulator {
  const base = join(root, TSM_REPORT_DIR);
  mkdirSync(base, { recursive: true });
  const watchers: FSWatcher[] = [];
  const requests: TsmEmulator['requests'] = [];
  const atomic = (p: string, data: Buffer | string) => {
    writeFileSync(`${p}.tmp`, data);
    renameSync(`${p}.tmp`, p);
  };
  watchers.push(
    watch(base, (_ev, name) => {
      if (!name) return;
      const dir = join(base, name.toString());
      if (!existsSync(dir) || existsSync(join(dir, 'provider'))) return;
      atomic(join(dir, 'provider'), `${provider}\n`);
      atomic(join(dir, 'generation'), '1\n');
      let done = false;
      const w = watch(dir, (_e, f) => {
        if (done || f?.toString() !== 'inblob') return;
        let inblob: Buffer;
        try {
          inblob = readFileSync(join(dir, 'inblob'));
        } catch {
          return;
        }
        if (inblob.length === 0) return;
        done = true;
        const privlevel = existsSync(join(dir, 'privlevel')) ? readFileSync(join(dir, 'privlevel'), 'utf8') : undefined;
        requests.push({ inblob, privlevel });
        const r = respond(inblob);
        if (r.auxblob) atomic(join(dir, 'auxblob'), r.auxblob);
        atomic(join(dir, 'outblob'), r.outblob);
        w.close();
      });
      watchers.push(w);
    }),
  );
  return { root, requests, close: () => watchers.forEach((w) => w.close()) };
}
