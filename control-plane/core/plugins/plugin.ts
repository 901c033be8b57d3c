// The plugin contract: a name, a config schema, and a pure translate function
// from validated config to Envoy resources. The host validates config against
// the schema before translate runs; translate never does I/O.
import type { Static, TSchema } from '@sinclair/typebox';
import type { SnapshotInput } from '../xds/snapshot.ts';

export interface Plugin<S extends TSchema = TSchema> {
  readonly name: string;
  readonly description: string;
  readonly schema: S;
  /** `instance` names this use of the plugin; resource names derive from it. */
  translate(config: Static<S>, instance: string): SnapshotInput;
}

export function definePlugin<S extends TSchema>(p: Plugin<S>): Plugin<S> {
  return p;
}
