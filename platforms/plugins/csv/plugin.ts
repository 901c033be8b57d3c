import type { PlatformPlugin } from '../../core/plugin.ts';
import { createCsvAttester } from './attester.ts';
import { createCsvVerifier } from './verifier.ts';

export const csvPlugin: PlatformPlugin = {
  name: 'csv',
  createVerifier: (o) => createCsvVerifier(o),
  createAttester: (o) => createCsvAttester({ root: o.root, command: o.csvReportCommand, hskCekDir: o.csvHskCekDir }),
};
