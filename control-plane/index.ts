export { startControlPlane, type ControlPlaneHandle } from './server.ts';
export { ControlPlaneConfig } from './config.ts';
export { AppConfig, RoutingState, buildSnapshot, parseAppConfig } from './app-config.ts';
export { PLUGINS } from './plugins/registry.ts';
export { ControlPlaneError } from './errors.ts';
export type { SecretInput, SecretInfo } from './secret-store.ts';
export type { StatusDocument } from './status-view.ts';
