export { generateBootstrap, layeredRuntime, RUNTIME_DEFAULTS, toYaml, XDS_CLUSTER, type BootstrapOptions, type XdsMode } from './bootstrap.ts';
export { BootstrapError } from './errors.ts';
