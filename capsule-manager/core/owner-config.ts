// The owner CLI's YAML config, shaped like Trustflow's cms config (alice.yaml):
// where the CM is and how to verify it, the party's key and certificate, and
// one section per operation.
import { Type, type Static } from '@sinclair/typebox';
import { platformNameSchema } from '../../platforms/index.ts';

const RuleSchema = Type.Object(
  {
    rule_id: Type.String({ minLength: 1 }),
    grantee_party_ids: Type.Array(Type.String(), { default: [] }),
    columns: Type.Array(Type.String(), { default: [] }),
    global_constraints: Type.Array(Type.String(), { default: [] }),
    op_constraints: Type.Array(Type.Object({ op_name: Type.String({ minLength: 1 }), constraints: Type.Array(Type.String(), { default: [] }) }, { additionalProperties: false }), { default: [] }),
  },
  { additionalProperties: false },
);

const Scope = Type.String({ default: '' });

export const OwnerConfigSchema = Type.Object(
  {
    /** host:port of the CM's gRPC endpoint (Trustflow default port 8888). */
    host: Type.String({ minLength: 3 }),
    /** Expected platform of the CM ("sim" needs sim: true). */
    tee_plat: Type.Optional(platformNameSchema()),
    /** Accept a CM running on the sim platform (development only). */
    sim: Type.Boolean({ default: false }),
    /** Accept a CM whose TCB status is Unknown (no collateral established its TCB level). */
    allow_unknown_tcb: Type.Boolean({ default: false }),
    /** PEM file of the CM's sim signing public key (from the CM operator). */
    sim_public_key_file: Type.Optional(Type.String()),
    /** Expected CM measurements, e.g. {mr_td: "..."} or for sim {mr_ta: "..."}. */
    tee_constraints: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]))),
    common: Type.Object(
      {
        /** Informational: the CLI computes the party id from the certificate and warns on a mismatch. */
        party_id: Type.Optional(Type.String()),
        /** Certificate chain files, leaf first. */
        cert_pems_file: Type.Array(Type.String(), { minItems: 1 }),
        private_key_file: Type.String(),
        scheme: Type.Literal('RSA', { default: 'RSA' }),
      },
      { additionalProperties: false },
    ),
    register_data_keys: Type.Optional(Type.Object({ resource_uris: Type.Array(Type.String()), data_key_b64s: Type.Array(Type.String()) }, { additionalProperties: false })),
    encrypt_file: Type.Optional(
      Type.Object({ source_file: Type.String(), dest_file: Type.Optional(Type.String()), resource_uri: Type.String(), key_bytes: Type.Union([Type.Literal(16), Type.Literal(32)], { default: 16 }) }, { additionalProperties: false }),
    ),
    register_data_policy: Type.Optional(Type.Object({ scope: Scope, data_uuid: Type.String(), rules: Type.Array(RuleSchema, { default: [] }) }, { additionalProperties: false })),
    add_data_rule: Type.Optional(Type.Object({ scope: Scope, data_uuid: Type.String(), rule: RuleSchema }, { additionalProperties: false })),
    delete_data_rule: Type.Optional(Type.Object({ scope: Scope, data_uuid: Type.String(), rule_id: Type.String() }, { additionalProperties: false })),
    delete_data_policy: Type.Optional(Type.Object({ scope: Scope, data_uuid: Type.String() }, { additionalProperties: false })),
    get_data_policys: Type.Optional(Type.Object({ scope: Scope }, { additionalProperties: false })),
    delete_data_key: Type.Optional(Type.Object({ resource_uri: Type.String() }, { additionalProperties: false })),
    get_export_data_key: Type.Optional(Type.Object({ resource_uri: Type.String(), data_export_certificate_file: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export type OwnerConfig = Static<typeof OwnerConfigSchema>;
