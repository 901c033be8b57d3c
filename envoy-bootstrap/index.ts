export { generateBootstrap, layeredRuntime, overloadManager, DEFAULT_MAX_HEAP_BYTES, DEFAULT_MAX_DOWNSTREAM_CONNECTIONS, RUNTIME_DEFAULTS, toYaml, XDS_CLUSTER, type BootstrapOptions, type XdsMode } from './core/bootstrap.ts';
export { BootstrapError } from './errors.ts';
