// Data capsule proxy configuration: TypeBox schema with defaults,
// additionalProperties: false.
import { Type, type Static } from '@sinclair/typebox';

export const DcpConfigSchema = Type.Object(
  {
    http: Type.Object(
      { host: Type.String({ default: '127.0.0.1' }), port: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }) },
      { additionalProperties: false, default: {} },
    ),
    grpc: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        host: Type.String({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Local paths in requests (sources, destinations) must lie below one of these
     * directories (symlinks resolved). Required: the operator states where the
     * app's data lives.
     */
    localRoots: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    s3: Type.Object(
      {
        region: Type.String({ default: 'us-east-1' }),
        /** When non-empty, s3_config.endpoint must be one of these (exact match). */
        allowedEndpoints: Type.Array(Type.String(), { default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
    logLevel: Type.String({ default: 'info' }),
  },
  { additionalProperties: false },
);
export type DcpConfig = Static<typeof DcpConfigSchema>;
