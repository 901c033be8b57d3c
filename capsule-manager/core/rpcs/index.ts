// The capsule manager's encrypted RPCs: the explicit table (no folder scan).
// Adding an RPC: its file here (name, auth, schema, audit policy, handler), one
// line below, and the proto. The gRPC and HTTP transports serve every entry.
import type { RpcDef } from '../rpc/rpc.ts';
import { addDataRule } from './add-data-rule.ts';
import { createDataKeys } from './create-data-keys.ts';
import { createDataPolicy } from './create-data-policy.ts';
import { createResultDataKey } from './create-result-data-key.ts';
import { deleteDataKey } from './delete-data-key.ts';
import { deleteDataPolicy } from './delete-data-policy.ts';
import { deleteDataRule } from './delete-data-rule.ts';
import { getDataKeys } from './get-data-keys.ts';
import { getExportDataKey } from './get-export-data-key.ts';
import { getTlsAsset } from './get-tls-asset.ts';
import { listDataPolicy } from './list-data-policy.ts';
import { registerCert } from './register-cert.ts';

export const RPCS = [
  registerCert,
  createDataKeys,
  deleteDataKey,
  createDataPolicy,
  listDataPolicy,
  addDataRule,
  deleteDataRule,
  deleteDataPolicy,
  getDataKeys,
  getTlsAsset,
  createResultDataKey,
  getExportDataKey,
] as const;

/** Every entry as the pipeline runs it. */
export const RPC_TABLE: ReadonlyMap<string, RpcDef> = new Map(RPCS.map((r) => [r.name, r as unknown as RpcDef]));

export type EncryptedRpc = (typeof RPCS)[number]['name'];
export const ENCRYPTED_RPCS: readonly EncryptedRpc[] = RPCS.map((r) => r.name);
