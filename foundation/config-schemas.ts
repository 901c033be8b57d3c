// Config schema parts several components share. Changing one changes every
// component's accepted config and docs/configuration.md.
import { Type, type TBoolean, type TInteger, type TObject, type TString } from '@sinclair/typebox';

type ListenProps = { host: TString; port: TInteger };

/**
 * A listen endpoint: `host` (default 127.0.0.1: loopback unless the operator
 * says otherwise) and `port` (default 0: any free port); the whole object
 * defaults to {}. With `enabled` the endpoint can be switched off, `enabled`
 * being the switch's default.
 */
export function listenSchema(): TObject<ListenProps>;
export function listenSchema(opts: { enabled: boolean }): TObject<{ enabled: TBoolean } & ListenProps>;
export function listenSchema(opts: { enabled?: boolean } = {}): TObject<ListenProps> | TObject<{ enabled: TBoolean } & ListenProps> {
  const props: ListenProps = { host: Type.String({ default: '127.0.0.1' }), port: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }) };
  const options = { additionalProperties: false, default: {} };
  if (opts.enabled === undefined) return Type.Object(props, options);
  return Type.Object({ enabled: Type.Boolean({ default: opts.enabled }), ...props }, options);
}
