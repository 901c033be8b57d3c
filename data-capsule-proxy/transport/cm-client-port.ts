// CapsuleManagerPort over the capsule manager's attested client
// (capsule-manager/client, interface 5). The proxy runs beside the app in the
// TEE: requests are signed with the app's key, GetDataKeys and
// CreateResultDataKey carry the app's evidence, and the CM's own report was
// verified by the client before any key material is sent to it.
import type { Attester } from '../../platforms/index.ts';
import type { CapsuleManagerPort, CmDataKeyRequest, CmResultKeyRequest } from '../core/cm-port.ts';
import { decodeDataKeyB64 } from '../core/enc-format.ts';
import { DcpError } from '../errors.ts';

/** The part of CapsuleManagerClient the proxy uses (structural, so tests can pass the real client). */
export interface CmClientLike {
  getDataKeys(
    rr: { initiator_party_id: string; scope: string; op_name: string; resources: Array<{ resource_uri: string; columns: string[]; attrs: string }>; env: string; global_attrs: string },
    attester?: Attester,
  ): Promise<Array<{ resource_uri: string; data_key_b64: string }>>;
  createResultDataKey(body: { owner_id?: string; resource_uri: string; scope?: string; data_key_b64: string; ancestor_uuids: string[] }, attester?: Attester): Promise<void>;
}

export interface CmClientPortOptions {
  client: CmClientLike;
  /** The app's attester (its evidence binds each request). */
  attester?: Attester;
  /** The party on whose behalf the app runs (Trustflow's initiator; the grantee in rules). */
  initiatorPartyId: string;
  /** Owner recorded for results (default: the signing party, i.e. the app). */
  resultOwnerId?: string;
  /**
   * Endpoints a request may name. The client is bound to one CM whose report it
   * verified: a request naming another endpoint is refused rather than silently
   * redirected. '' (unset in the request) always means this CM.
   */
  endpoints?: string[];
}

function cmFailure(what: string, e: unknown): DcpError {
  const code = (e as { code?: string })?.code ?? 'error';
  // The CM's message says which condition failed; it carries no key material.
  return new DcpError('CM_FAILED', `capsule manager ${what} failed (${code}): ${(e as Error)?.message ?? String(e)}`, { cause: e, details: { cmCode: code } });
}

export function createCmClientPort(opts: CmClientPortOptions): CapsuleManagerPort {
  const checkEndpoint = (endpoint: string) => {
    if (endpoint && !(opts.endpoints ?? []).includes(endpoint)) {
      throw new DcpError('CM_FAILED', `capsule manager endpoint ${endpoint} is not the one this proxy is bound to`);
    }
  };
  return {
    async getDataKey(req: CmDataKeyRequest): Promise<Buffer> {
      checkEndpoint(req.endpoint);
      let keys;
      try {
        keys = await opts.client.getDataKeys(
          {
            initiator_party_id: opts.initiatorPartyId,
            scope: req.scope,
            op_name: req.opName,
            resources: [{ resource_uri: req.resourceUri, columns: req.columns, attrs: '' }],
            env: '',
            global_attrs: req.globalAttrs,
          },
          opts.attester,
        );
      } catch (e) {
        throw cmFailure('GetDataKeys', e);
      }
      const k = keys.find((x) => x.resource_uri === req.resourceUri);
      if (!k) throw new DcpError('CM_FAILED', `capsule manager returned no key for ${req.resourceUri}`);
      return decodeDataKeyB64(k.data_key_b64);
    },
    async createResultDataKey(req: CmResultKeyRequest): Promise<void> {
      checkEndpoint(req.endpoint);
      try {
        await opts.client.createResultDataKey(
          {
            ...(opts.resultOwnerId ? { owner_id: opts.resultOwnerId } : {}),
            resource_uri: req.resourceUri,
            scope: req.scope,
            data_key_b64: req.dataKey.toString('base64'),
            ancestor_uuids: req.ancestorUuids,
          },
          opts.attester,
        );
      } catch (e) {
        throw cmFailure('CreateResultDataKey', e);
      }
    },
  };
}
