// ext-authz configuration (TypeBox schema, defaults, additionalProperties:false).
import { Type, type Static } from '@sinclair/typebox';
import { listenSchema } from '../foundation/config-schemas.ts';

const Peers = Type.Object({
  /** Group ids (hex) whose members may call; "*" = any trusted group. */
  groups: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  /** Party ids allowed; "*" = any member of the listed groups. */
  parties: Type.Array(Type.String({ minLength: 1 }), { default: ['*'] }),
  /** Accept the Trustflow shared-asset certificate (names no party; default false). */
  allowShared: Type.Boolean({ default: false }),
}, { additionalProperties: false });

export const PolicyRuleSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  /** Path prefix (query string excluded). The longest matching prefix wins. */
  pathPrefix: Type.String({ minLength: 1, pattern: '^/' }),
  methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]+$' }), { minItems: 1 })),
  /** No identity needed (e.g. /.well-known/attestation). Exclusive with peers/jwt. */
  public: Type.Boolean({ default: false }),
  /** A verified group-member peer certificate is required. */
  peers: Type.Optional(Peers),
  /** A valid bearer JWT is required (issuer/audience from the jwt section). */
  jwt: Type.Boolean({ default: false }),
}, { additionalProperties: false });
export type PolicyRule = Static<typeof PolicyRuleSchema>;

export const GroupTrustSchema = Type.Object({
  groupId: Type.String({ pattern: '^[0-9a-f]{32}$' }),
  caCertPem: Type.String({ minLength: 1 }),
}, { additionalProperties: false });

export const ExtAuthzConfigSchema = Type.Object({
  /** Envoy's ext_authz side stream: a Unix socket for the co-located Envoy, mutual TLS for anything else. */
  grpc: listenSchema(),
  /** The admin API (groups, revocations): every change needs `tokenFile` (or mutual TLS), reads too beyond loopback. */
  http: Type.Object({ ...listenSchema().properties, tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'bearer token file required by every change (and by reads beyond loopback)' })) }, { additionalProperties: false, default: {} }),
  groups: Type.Array(GroupTrustSchema, { default: [] }),
  policy: Type.Object({ rules: Type.Array(PolicyRuleSchema, { default: [] }) }, { additionalProperties: false, default: {} }),
  jwt: Type.Optional(Type.Object({
    issuer: Type.String({ minLength: 1 }),
    audience: Type.String({ minLength: 1 }),
    jwksFile: Type.Optional(Type.String({ minLength: 1 })),
    jwksUrl: Type.Optional(Type.String({ format: 'uri' })),
    algorithms: Type.Array(Type.String(), { default: ['RS256', 'ES256', 'EdDSA'] }),
    clockToleranceSeconds: Type.Integer({ minimum: 0, maximum: 300, default: 30 }),
  }, { additionalProperties: false })),
  cache: Type.Object({
    maxEntries: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 10_000 }),
    ttlMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 2_000 }),
  }, { additionalProperties: false, default: {} }),
  revoked: Type.Object({
    parties: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    fingerprints: Type.Array(Type.String({ pattern: '^[0-9a-f]{64}$' }), { default: [] }),
  }, { additionalProperties: false, default: {} }),
  logLevel: Type.String({ default: 'info' }),
}, { additionalProperties: false });
export type ExtAuthzConfig = Static<typeof ExtAuthzConfigSchema>;
