// The explicit list of built-in plugins. Adding a plugin means adding it here;
// nothing is discovered from the file system.
import type { Plugin } from './plugin.ts';
import { onlinePlugin } from './online.ts';
import { interactPlugin } from './interact.ts';
import { routePlugin } from './route.ts';

export const PLUGINS: readonly Plugin[] = [onlinePlugin as unknown as Plugin, interactPlugin as unknown as Plugin, routePlugin as unknown as Plugin];

export const PLUGIN_NAMES = PLUGINS.map((p) => p.name);

export function findPlugin(name: string): Plugin | undefined {
  return PLUGINS.find((p) => p.name === name);
}
