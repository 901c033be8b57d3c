// Config schema parts several components share. Changing one changes every
// component's accepted config and docs/configuration.md.
import { Type, type TBoolean, type TInteger, type TObject, type TOptional, type TString } from '@sinclair/typebox';

/** Mutual TLS of a TCP endpoint: our certificate and key, and the CA clients' certificates must chain to. */
export const ListenTlsSchema = Type.Object(
  {
    certFile: Type.String({ minLength: 1, description: 'PEM certificate chain of this endpoint' }),
    keyFile: Type.String({ minLength: 1, description: 'PEM private key (0600)' }),
    clientCaFile: Type.String({ minLength: 1, description: 'PEM CA(s) that must have issued every client certificate' }),
  },
  { additionalProperties: false },
);

type ListenProps = {
  host: TString;
  port: TInteger;
  socket: TOptional<TString>;
  socketMode: TString;
  tls: TOptional<typeof ListenTlsSchema>;
};

/**
 * Where and how an endpoint listens. A Unix socket (`socket`, permissions
 * `socketMode`) for a peer on the same host; or TCP `host:port`, plaintext
 * only on loopback, with `tls` (mutual TLS) anywhere else: net/listen.ts
 * refuses a plaintext non-loopback bind.
 */
function listenProps(defaultPort = 0): ListenProps {
  return {
    host: Type.String({ default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort }),
    /** A Unix socket path instead of TCP (the co-located Envoy connects to it). */
    socket: Type.Optional(Type.String({ minLength: 1, maxLength: 107, description: 'Unix socket path instead of TCP' })),
    /** Permissions of the socket file: who may connect (owner and group by default). */
    socketMode: Type.String({ pattern: '^0?[0-7]{3}$', default: '0660', description: 'permissions of the socket file' }),
    tls: Type.Optional(ListenTlsSchema),
  };
}

/**
 * A listen endpoint: `host` (default 127.0.0.1: loopback unless the operator
 * says otherwise) and `port` (default 0: any free port); the whole object
 * defaults to {}. With `enabled` the endpoint can be switched off, `enabled`
 * being the switch's default.
 */
export function listenSchema(opts?: { port?: number }): TObject<ListenProps>;
export function listenSchema(opts: { enabled: boolean; port?: number }): TObject<{ enabled: TBoolean } & ListenProps>;
export function listenSchema(opts: { enabled?: boolean; port?: number } = {}): TObject<ListenProps> | TObject<{ enabled: TBoolean } & ListenProps> {
  const props = listenProps(opts.port);
  const options = { additionalProperties: false, default: {} };
  if (opts.enabled === undefined) return Type.Object(props, options);
  return Type.Object({ enabled: Type.Boolean({ default: opts.enabled }), ...props }, options);
}
