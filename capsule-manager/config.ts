// Capsule manager configuration: TypeBox schema with defaults, additionalProperties false.
import { attesterPlatformSchema, platformNameSchema } from '../platforms/index.ts';
import { listenSchema } from '../foundation/config-schemas.ts';
import { Type, type Static } from '@sinclair/typebox';
import { natsSecurityProperties } from '../net/nats-connection.ts';

const PlatformName = platformNameSchema();

/** How the CM's own report is checked before its key is trusted (by an app talking to the CM). */
export const CmVerifySchema = Type.Object(
  {
    /** PEM files of sim signing keys to trust (development). */
    trustedSimKeyFiles: Type.Array(Type.String(), { default: [] }),
    allowInsecure: Type.Boolean({ default: false }),
    /** Accept TCB status Unknown (no collateral established the CM's TCB level); explicit, default false. */
    allowUnknownTcb: Type.Boolean({ default: false }),
    /** Expected CM measurements (name -> hex or list of hex). */
    measurements: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]))),
  },
  { additionalProperties: false, default: {} },
);

/** The app's TEE: the evidence its requests to the CM carry. */
export const AppAttesterSchema = Type.Object(
  {
    platform: attesterPlatformSchema({ default: 'auto' }),
    allowSim: Type.Boolean({ default: false }),
    simKeyDir: Type.Optional(Type.String()),
    simMeasurements: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false, default: {} },
);

/** The fields every app-side connection to the CM has (the data capsule proxy's, the control plane's groups). */
export const appCmConnectionFields = {
  /** host:port of the CM's gRPC endpoint. */
  address: Type.String({ minLength: 1 }),
  /** The app's signing key (PKCS#8 PEM, 0600) and certificate (PEM) used for CM requests. */
  keyFile: Type.String({ minLength: 1 }),
  certFile: Type.String({ minLength: 1 }),
};

/** An app's connection to the capsule manager: where it is, the app's key, how the CM is verified, the app's TEE. */
export const AppCmConnectionSchema = Type.Object({ ...appCmConnectionFields, verify: CmVerifySchema, attester: AppAttesterSchema }, { additionalProperties: false });
export type AppCmConnection = Static<typeof AppCmConnectionSchema>;

export const CapsuleManagerConfigSchema = Type.Object(
  {
    /** The CM's API. Beyond loopback every request still authenticates itself: signed and encrypted envelopes. */
    grpc: listenSchema({ port: 8888 }),
    http: Type.Object(
      {
        ...listenSchema({ enabled: true, port: 8889 }).properties,
        /**
         * File holding a bearer token (at least 16 characters) required by the operator
         * endpoint GET /api/v1/audit/recent. Mandatory when http.host is not loopback.
         */
        auditTokenFile: Type.Optional(Type.String({ minLength: 1, description: 'Bearer token file for GET /api/v1/audit/recent; required when http.host is not loopback' })),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Where the CM's RSA key and certificate live (0600); absent = in memory only. */
    identityDir: Type.Optional(Type.String({ minLength: 1 })),
    storage: Type.Object(
      {
        kind: Type.Union([Type.Literal('file'), Type.Literal('nats')], { default: 'file' }),
        dir: Type.Optional(Type.String({ minLength: 1 })),
        nats: Type.Optional(Type.Object({ servers: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]), bucket: Type.String({ default: 'aenv_capsule_manager' }), replicas: Type.Integer({ minimum: 1, maximum: 5, default: 1 }), readCache: Type.Boolean({ default: true, description: 'Serve reads from a watched mirror of the bucket behind a read barrier (linearizable; one shared STREAM.INFO instead of a KV get per key)' }), ...natsSecurityProperties }, { additionalProperties: false })),
        compactEvery: Type.Integer({ minimum: 1, default: 1000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    kek: Type.Object(
      {
        /** Read from this environment variable (default AENV_CM_KEK_PASSPHRASE). */
        passphraseEnv: Type.String({ default: 'AENV_CM_KEK_PASSPHRASE' }),
        /** Or from a file (0600). */
        passphraseFile: Type.Optional(Type.String({ minLength: 1 })),
        /** Only for tests and demos: the passphrase inline. */
        passphrase: Type.Optional(Type.String({ minLength: 8 })),
        scryptCost: Type.Integer({ minimum: 1024, default: 32768 }),
        /**
         * Instead of a passphrase: a file holding the TEE's sealing key (16..64 raw
         * bytes), e.g. Gramine's /dev/attestation/keys/_sgx_mrenclave. The KEK is
         * then this enclave's on this machine only (docs/capsule-manager.md).
         */
        sealingKeyFile: Type.Optional(Type.String({ minLength: 1, description: "file with the TEE's sealing key (16..64 raw bytes), instead of a passphrase" })),
      },
      { additionalProperties: false, default: {} },
    ),
    attestation: Type.Object(
      {
        /** The CM's own attester (GetRaCert): a platform name, "auto", or "none". */
        self: Type.Union([PlatformName, Type.Literal('auto'), Type.Literal('none')], { default: 'auto' }),
        simKeyDir: Type.Optional(Type.String()),
        simMeasurements: Type.Optional(Type.Record(Type.String(), Type.String())),
        /** Apps must attest GetDataKeys/GetTlsAsset/CreateResultDataKey. */
        require: Type.Boolean({ default: true }),
        /** Accept sim evidence from apps (development only). */
        allowInsecure: Type.Boolean({ default: false }),
        allowDebug: Type.Boolean({ default: false }),
        /**
         * Accept apps whose TCB status is Unknown: without `collateralDir` (or for a
         * platform the collateral does not cover) hardware evidence is Unknown. Explicit, default false (docs/platforms.md, "Verdicts").
         */
        allowUnknownTcb: Type.Boolean({ default: false }),
        /** Offline Intel collateral directory (`aenv collateral fetch`): TDX/SGX evidence gets its TCB status from it. */
        collateralDir: Type.Optional(Type.String({ minLength: 1 })),
        platforms: Type.Optional(Type.Array(PlatformName)),
        trustedSimKeys: Type.Array(Type.String(), { default: [] }),
        /** Expected app measurements for every release (in addition to rule constraints). */
        measurements: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]))),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Key releases (GetDataKeys, GetTlsAsset) must be fresh: the signed request
     * carries freshness {request_time (RFC 3339), nonce}; a time outside the window
     * or a nonce already seen (in the store, so across replicas) is refused.
     * Trustflow's clients send none: with required false they are served as before.
     */
    freshness: Type.Object(
      {
        required: Type.Boolean({ default: true }),
        windowSeconds: Type.Integer({ minimum: 5, maximum: 3600, default: 120 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Attested release sessions (aenv.capsule_manager.v1.ReleaseSessions): an app
     * attests once (OpenReleaseSession) and then asks for keys under a session key;
     * every release is still checked against the policy and audited. Sessions live
     * in this process only (a restart or another replica answers SESSION_UNKNOWN).
     */
    sessions: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        /** The longest a session lives: the verified claims (TCB status among them) are this old at most. */
        maxTtlSeconds: Type.Integer({ minimum: 10, maximum: 3600, default: 300 }),
        /** Sessions held at once; opening one more evicts the oldest. */
        maxSessions: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
        /** Sessions one party holds at once; opening one more ends its own oldest (never another party's). */
        maxSessionsPerParty: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 64 }),
        /** Releases per session (AES-GCM with random IVs: far below 2^32 messages per key). */
        maxReleases: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 1_000_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    audit: Type.Object(
      {
        path: Type.Optional(Type.String({ minLength: 1 })),
        /** This replica's name in the audit stream (default: the host name, e.g. the pod name, made a subject token). */
        replica: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: "this replica's name in the audit stream; default the host name" })),
        /**
         * With the NATS store: every replica publishes its audit records to one JetStream
         * stream and follows it, so GET /api/v1/audit/recent shows every replica's decisions.
         */
        stream: Type.Object(
          {
            enabled: Type.Boolean({ default: true, description: 'publish to and follow the audit stream (NATS store only)' }),
            name: Type.String({ default: 'aenv_cm_audit', pattern: '^[A-Za-z0-9_-]{1,64}$' }),
            subjectPrefix: Type.String({ default: 'aenv.cm.audit', pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$' }),
            maxAgeDays: Type.Integer({ minimum: 1, maximum: 3650, default: 90 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    logLevel: Type.String({ default: 'info' }),
  },
  { additionalProperties: false },
);

export type CapsuleManagerConfig = Static<typeof CapsuleManagerConfigSchema>;
