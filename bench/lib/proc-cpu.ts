// CPU time of a process from /proc (Linux): what the benches divide by the
// requests a process served to report CPU per request.
import { readFileSync } from 'node:fs';

/** utime + stime of a process in ms (from /proc/<pid>/stat; clock ticks assumed 100 Hz); NaN when unknown. */
export function cpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return NaN;
  }
}
