// The control plane's own config (ports, node keying, NATS), separate from the
// app config it translates.
import { Type, type Static } from '@sinclair/typebox';
import { listenSchema } from '../foundation/config-schemas.ts';
import { natsSecurityProperties } from '../net/nats-connection.ts';
import { AppCmConnectionSchema } from '../capsule-manager/index.ts';

export const ControlPlaneConfig = Type.Object(
  {
    id: Type.String({ default: 'aenv-control-plane', minLength: 1, maxLength: 128 }),
    /**
     * Where Envoys fetch their configuration and secrets: a Unix socket for the
     * co-located Envoy (`socket`, its `socketMode` deciding who may connect), mutual
     * TLS for remote ones (`tls`: the client certificate names the node; a request
     * for another node id is refused), or loopback TCP, where no secret is served.
     */
    xds: Type.Object(
      {
        ...listenSchema().properties,
        /** Development only: serve SDS secrets over plaintext loopback TCP too (any local process could fetch them). */
        secretsOverLoopbackTcp: Type.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
    api: Type.Object(
      {
        ...listenSchema().properties,
        /**
         * File holding a bearer token required on every mutating request (PUT/DELETE).
         * Mandatory when the API listens beyond loopback.
         */
        tokenFile: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Snapshots are keyed by Envoy node id (default) or node cluster. */
    nodeKey: Type.Union([Type.Literal('id'), Type.Literal('cluster')], { default: 'id' }),
    /** The initial app config (see docs/control-plane.md). */
    app: Type.Optional(Type.Unknown()),
    nats: Type.Optional(
      Type.Object(
        {
          servers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
          bucket: Type.String({ default: 'aenv_routing', pattern: '^[A-Za-z0-9_-]{1,64}$' }),
          key: Type.String({ default: 'routing', pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
          /**
           * JetStream replicas of the KV bucket (1..5, at most the cluster size). Used when the bucket is
           * created; an existing bucket with another count is used as it is, with a warning.
           */
          replicas: Type.Integer({ minimum: 1, maximum: 5, default: 1, description: 'JetStream replicas of the routing KV bucket when created' }),
          /**
           * Period of the reconciliation read of the routing key (0 = off). A watch served by a lost
           * nats-server stalls for 8-10 s; the read applies newer revisions meanwhile.
           */
          reconcileSeconds: Type.Number({ minimum: 0, maximum: 3600, default: 2, description: 'period of the reconciliation read of the routing key; 0 = off' }),
          ...natsSecurityProperties,
        },
        { additionalProperties: false },
      ),
    ),
    /** Recent capsule-manager decisions shown on the status view/page (display only). */
    capsuleManager: Type.Optional(
      Type.Object(
        {
          /** The CM's `GET /api/v1/audit/recent` URL (http/https); `limit` is added as a query parameter. */
          decisionsUrl: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }),
          pollSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 5 }),
          /** At most the CM's ring capacity (200). */
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
          /** File holding the bearer token the CM requires when its http.auditTokenFile is set. */
          tokenFile: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Services whose health the status view/page shows (display only): a service that stops answering is an alarm. */
    services: Type.Optional(
      Type.Object(
        {
          pollSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 2 }),
          targets: Type.Array(
            Type.Object(
              {
                name: Type.String({ pattern: '^[A-Za-z0-9_. -]{1,64}$' }),
                /** A health URL answering 2xx while the service is up (e.g. ext-proc's http /health). */
                url: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }),
                /** The service's Unix socket: the probe connects there and sends the URL's path. */
                socket: Type.Optional(Type.String({ minLength: 1, maxLength: 107 })),
              },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: 64 },
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Communication groups served over SDS without code (docs/groups.md): acting
     * for its app, the control plane attests to the capsule manager, fetches each
     * group's leaf (a key it generates; only the public key goes to the CM), serves
     * it and the group CA as SDS secrets, and renews them at 2/3 of their life.
     */
    groups: Type.Optional(
      Type.Object(
        {
          capsuleManager: AppCmConnectionSchema,
          bindings: Type.Array(
            Type.Object(
              {
                /** Local name of the group (logs, status). */
                name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
                /** The data key naming the group (resource_uri = data_uuid). */
                resourceUri: Type.String({ minLength: 1 }),
                scope: Type.Optional(Type.String()),
                /** SDS secret names the interact plugin's listeners and clusters reference. */
                certSecret: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' }),
                caSecret: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' }),
                /** "leaf" (default): the app's own key certified. "shared": Trustflow's shared asset. */
                form: Type.Union([Type.Literal('leaf'), Type.Literal('shared')], { default: 'leaf' }),
              },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: 64 },
          ),
          /** Renew at this fraction of a leaf's lifetime. */
          renewAtFraction: Type.Number({ exclusiveMinimum: 0, maximum: 0.95, default: 2 / 3 }),
        },
        { additionalProperties: false },
      ),
    ),
    logLevel: Type.Optional(Type.Union(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].map((l) => Type.Literal(l)))),
  },
  { additionalProperties: false },
);
export type ControlPlaneConfig = Static<typeof ControlPlaneConfig>;
