// data-capsule-proxy: its public face (other components import only this file).
export { DcpConfigSchema } from './config.ts';
export { decryptFile, decryptStream, encryptFile } from './core/enc-format.ts';
export { encNativeStatus } from './core/enc-native.ts';
export { startDataCapsuleProxy } from './start.ts';
export { createCmClientPort } from './transport/cm-client-port.ts';
