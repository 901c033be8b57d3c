// ra-proxy: its public face (other components import only this file).
export { RaProxyConfigSchema } from './config.ts';
export { startRaProxy } from './start.ts';
