import { defineErrors } from '../foundation/errors.ts';

export const BootstrapError = defineErrors('envoy-bootstrap', {
  INVALID_OPTIONS: 'invalid_argument',
});
export type BootstrapError = InstanceType<typeof BootstrapError>;
