// Whether a path is there (or runnable): the small checks attesters and tool
// lookups make before they open a device or run a binary.
import { accessSync, constants, promises as fsp } from 'node:fs';

/** True when `p` exists (any type; permissions are checked when it is opened). */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

/** True when `p` exists and this process may execute it. */
export function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
