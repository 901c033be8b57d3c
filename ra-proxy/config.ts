// ra-proxy configuration: TypeBox schema with defaults, additionalProperties: false.
import { attesterPlatformSchema } from '../platforms/index.ts';
import { Type, type Static } from '@sinclair/typebox';
import { listenSchema } from '../foundation/config-schemas.ts';

const Hex = Type.String({ pattern: '^(0x)?([0-9a-fA-F]{2}){1,1024}$' });

export const RaProxyConfigSchema = Type.Object(
  {
    http: listenSchema(),
    grpc: listenSchema({ enabled: true }),
    /** A platform name, or 'auto' for the first detected hardware TEE. */
    platform: attesterPlatformSchema({ default: 'auto' }),
    /** With platform 'auto': fall back to sim when no TEE is found (development only). */
    allowSim: Type.Boolean({ default: false }),
    /** Root for device/configfs paths (tests point it at an emulated tree). */
    attesterRoot: Type.Optional(Type.String()),
    sim: Type.Object(
      {
        keyDir: Type.String({ default: './data/sim' }),
        measurements: Type.Record(Type.String({ pattern: '^[a-z0-9_]{1,64}$' }), Hex, { default: {} }),
        debug: Type.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Per-platform attester settings (see docs/platforms.md, "Attesters"). */
    attester: Type.Object(
      {
        snpPrivLevel: Type.Optional(Type.Integer({ minimum: 0, maximum: 3 })),
        sgxQuoteCommand: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
        csvReportCommand: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
        csvHskCekDir: Type.Optional(Type.String()),
        tpmAkHandle: Type.Optional(Type.Integer({ minimum: 0x81000000, maximum: 0x81ffffff })),
        tpmPcrs: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 23 }), { minItems: 1, maxItems: 24 })),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Publish the sim public key at /.well-known/sim-key (demos). */
    publishSimKey: Type.Boolean({ default: true }),
    /** Directory of the app identity keys (platforms/app-identity.ts). */
    identityDir: Type.String({ default: './data/identity' }),
    nonce: Type.Object(
      {
        replayWindowSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 300 }),
        maxEntries: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    logLevel: Type.String({ default: 'info' }),
  },
  { additionalProperties: false },
);
export type RaProxyConfig = Static<typeof RaProxyConfigSchema>;
