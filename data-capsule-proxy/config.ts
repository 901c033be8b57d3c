// Data capsule proxy configuration: TypeBox schema with defaults,
// additionalProperties: false.
import { AppAttesterSchema, appCmConnectionFields, CmVerifySchema } from '../capsule-manager/index.ts';
import { Type, type Static } from '@sinclair/typebox';
import { listenSchema } from '../foundation/config-schemas.ts';

export const DcpConfigSchema = Type.Object(
  {
    http: listenSchema(),
    grpc: listenSchema({ enabled: true }),
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
        /** Results larger than this are uploaded in parts (multipart upload), beyond a single PUT's 5 GiB. */
        multipartThresholdMiB: Type.Integer({ minimum: 5, maximum: 5120, default: 64, description: 'results larger than this go up as a multipart upload' }),
        /** Part size of multipart uploads; raised where needed to stay within S3's 10,000 parts. Two parts are buffered per upload. */
        partSizeMiB: Type.Integer({ minimum: 5, maximum: 5120, default: 16, description: 'part size of multipart uploads (two in memory per upload)' }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * The capsule manager this proxy fetches keys from and registers results with.
     * Absent: only requests with data_key_b64 (and without cm_result_config) work.
     */
    capsuleManager: Type.Optional(
      Type.Object(
        {
          ...appCmConnectionFields,
          /** The party the app works for (Trustflow's initiator; the grantee in rules). */
          initiatorPartyId: Type.String({ minLength: 1 }),
          /** Owner recorded for results (default: the app's signing party). */
          resultOwnerId: Type.Optional(Type.String({ minLength: 1 })),
          verify: CmVerifySchema,
          attester: AppAttesterSchema,
        },
        { additionalProperties: false },
      ),
    ),
    logLevel: Type.String({ default: 'info' }),
  },
  { additionalProperties: false },
);
export type DcpConfig = Static<typeof DcpConfigSchema>;
