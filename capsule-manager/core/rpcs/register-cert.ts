// RegisterCert: a party registers its certificate chain (leaf first; the root's key is its party id).
import { Type } from '@sinclair/typebox';
import { CmError } from '../../errors.ts';
import { parseCert, partyIdOfCert } from '../party-id.ts';
import { defineRpc } from '../rpc/rpc.ts';

export const registerCert = defineRpc({
  name: 'RegisterCert',
  auth: 'signer',
  schema: Type.Object({
    owner_party_id: Type.String({ minLength: 1 }),
    certs: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
    scheme: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  }),
  auditErrors: 'target',
  async handle(ctx, body, { signer }) {
    const owner = body.owner_party_id;
    const certs = body.certs ?? [];
    const scheme = body.scheme || 'RSA';
    if (scheme !== 'RSA') throw new CmError('UNSUPPORTED', `scheme ${scheme} is not supported (RSA only)`);
    if (certs.length === 0 || certs.length > 8) throw new CmError('INVALID_REQUEST', 'certs must hold 1..8 PEM certificates');
    if (owner !== signer.partyId) throw new CmError('NOT_OWNER', 'owner_party_id is not the party that signed the request');
    const chain = certs.map((c) => parseCert(c));
    for (let i = 0; i + 1 < chain.length; i++) if (!chain[i]!.verify(chain[i + 1]!.publicKey)) throw new CmError('INVALID_CERT', `certs[${i}] is not signed by certs[${i + 1}]`);
    if (partyIdOfCert(certs[certs.length - 1]!) !== owner) throw new CmError('NOT_OWNER', 'the registered certificate chain does not belong to owner_party_id');
    await ctx.repo.putParty(owner, { certs, scheme });
    return { response: {}, audit: [{ actor: owner, action: 'RegisterCert', target: owner, decision: 'ok' }] };
  },
});
