// What the proxy needs from the capsule manager, as a narrow port: the service
// core depends on this, main.ts plugs in the attested CapsuleManagerClient
// (capsule-manager/client) through cm-client-port.ts.
export interface CmDataKeyRequest {
  /** The endpoint named in the request ('' = the proxy's configured one). */
  endpoint: string;
  scope: string;
  opName: string;
  resourceUri: string;
  columns: string[];
  /** JSON object text, '' for none. */
  globalAttrs: string;
}

export interface CmResultKeyRequest {
  endpoint: string;
  scope: string;
  resourceUri: string;
  dataKey: Buffer;
  ancestorUuids: string[];
}

export interface CapsuleManagerPort {
  /** The data key of one resource, released by the CM after attestation and policy. */
  getDataKey(req: CmDataKeyRequest): Promise<Buffer>;
  /** Registers a result's key with its lineage (CreateResultDataKey). */
  createResultDataKey(req: CmResultKeyRequest): Promise<void>;
}
