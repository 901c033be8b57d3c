// tdx: Intel TDX quotes (DCAP v4/v5), verified to the Intel SGX Root CA.
import { Type } from '@sinclair/typebox';
import { definePlatform } from '../../core/plugin.ts';
import { DCAP_AUX_KEYS, dcapUal, type DcapVerifierOptions } from '../../core/dcap/verify.ts';
import { createTdxAttester } from './attester.ts';
import { createTdxVerifier } from './verifier.ts';

export interface TdxAttesterConfig {
  /** QGS for the /dev/tdx_guest path (no configfs-tsm): "vsock:<cid>:<port>" or "unix:<path>" (docs/platforms.md, "Attester device paths"). */
  tdxQgs?: string;
  /** The native ioctl helper (default $AENV_TEE_HELPER, else .tools/bin/aenv-tee-helper). */
  teeHelper?: string;
}

export const tdxPlugin = definePlatform<'tdx', DcapVerifierOptions, TdxAttesterConfig>({
  name: 'tdx',
  auxKeys: DCAP_AUX_KEYS,
  ual: dcapUal('TDX'),
  attesterOptions: Type.Object({ tdxQgs: Type.Optional(Type.String({ pattern: '^(vsock:[0-9]{1,10}:[0-9]{1,10}|unix:/.+)$' })), teeHelper: Type.Optional(Type.String({ minLength: 1 })) }),
  createVerifier: (o) => createTdxVerifier(o),
  createAttester: (o) => createTdxAttester({ root: o.root, qgs: o.tdxQgs, teeHelper: o.teeHelper }),
});
