// ext-proc configuration: TypeBox schema with defaults, validated at start.
import { Type, type Static } from '@sinclair/typebox';
import { listenSchema } from '../foundation/config-schemas.ts';
import { loadConfigFile, validateConfig } from '../foundation/config.ts';
import { CONTENT_ENCS, type ContentEnc } from '../foundation/jwe-crypto.ts';

export const KEY_ALGS = ['RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A256KW', 'dir'] as const;
export type KeyAlg = (typeof KEY_ALGS)[number];
export { CONTENT_ENCS, type ContentEnc };

/** A string enum with one clear ajv error ("must be equal to one of the allowed values"). */
function stringEnum<T extends string>(values: readonly T[], opts: { default?: T } = {}) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...opts });
}

export const ExtProcConfigSchema = Type.Object(
  {
    grpc: listenSchema(),
    /** /health and /metrics; port 0 picks a free port. */
    http: listenSchema({ enabled: true }),
    /** Directory of the app identity (platforms/app-identity.ts); keys are created there on first use. */
    identityDir: Type.String({ minLength: 1, default: '.aenv/identity' }),
    /** Largest request/response body handled (bytes); larger request bodies get 413. */
    maxBodyBytes: Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024, default: 1024 * 1024 }),
    /** `allow`: plain requests pass through untouched (Trustflow's behaviour); `reject`: 400 ENCRYPTION_REQUIRED. */
    plain: stringEnum<'allow' | 'reject'>(['allow', 'reject'], { default: 'allow' }),
    /**
     * `rfc7516`: GCM AAD = ASCII(BASE64URL(protected)) [ "." BASE64URL(aad) ].
     * `trustflow`: Trustflow's client form: AAD = the decoded `aad` field (empty),
     * responses carry `encrypted_key:""` and an RSA-OAEP-256 header.
     */
    compat: stringEnum<'rfc7516' | 'trustflow'>(['rfc7516', 'trustflow'], { default: 'rfc7516' }),
    algorithms: Type.Array(stringEnum<KeyAlg>(KEY_ALGS), { minItems: 1, uniqueItems: true, default: [...KEY_ALGS] }),
    encryptions: Type.Array(stringEnum<ContentEnc>(CONTENT_ENCS), { minItems: 1, uniqueItems: true, default: [...CONTENT_ENCS] }),
    session: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        ttlSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 600 }),
        maxEntries: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
        /** GCM with random 96-bit IVs: stay far below 2^32 messages per key. */
        maxUses: Type.Integer({ minimum: 1, maximum: 1 << 30, default: 1 << 20 }),
      },
      { additionalProperties: false, default: {} },
    ),
    logLevel: Type.String({ default: 'info' }),
  },
  { additionalProperties: false },
);
export type ExtProcConfig = Static<typeof ExtProcConfigSchema>;

export function parseExtProcConfig(input: unknown): ExtProcConfig {
  return validateConfig(ExtProcConfigSchema, input, 'ext-proc config');
}

export function loadExtProcConfig(path: string): ExtProcConfig {
  return loadConfigFile(ExtProcConfigSchema, path);
}
