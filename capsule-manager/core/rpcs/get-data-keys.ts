// GetDataKeys: an attested app asks for data keys; released only when its
// evidence verifies (bound to SHA-256(cert "." serialized ResourceRequest)) and
// every resource's rules grant the request. Keys are sealed to the attested cert.
import { defineRpc } from '../rpc/rpc.ts';
import { checkRelease, dataKeysOf, KeyReleaseSchema, resourceRequestOf } from '../rpc/release.ts';

export const getDataKeys = defineRpc({
  name: 'GetDataKeys',
  auth: 'attested-app',
  schema: KeyReleaseSchema,
  auditErrors: 'own',
  async handle(ctx, body, { signer }) {
    const rr = resourceRequestOf(body.resource_request);
    const { granted, audit, claim } = await checkRelease(ctx, body, rr, 'GetDataKeys', signer.partyId);
    await claim();
    ctx.observer?.keysReleased('GetDataKeys', granted.length);
    return { response: { data_keys: dataKeysOf(granted), cert: ctx.identity.certPem }, audit: [audit] };
  },
});
