// csv: Hygon CSV attestation reports, verified PEK -> CEK -> HSK -> HRK (SM2/SM3).
import { Type } from '@sinclair/typebox';
import { definePlatform } from '../../core/plugin.ts';
import { PlatformError } from '../../errors.ts';
import { createCsvAttester } from './attester.ts';
import { createCsvVerifier, CSV_AUX_KEYS } from './verifier.ts';

export interface CsvVerifierOptions {
  /** Hygon root key (HRK) certificate, Hygon binary format. */
  hygonHrk?: Uint8Array;
  /** HSK and CEK certificates of a chip (by serial number), e.g. from a Hygon KDS cache. */
  csvCertProvider?: (chipSn: string) => Promise<{ hsk: Uint8Array; cek: Uint8Array } | undefined>;
  /** When true, the PEK -> report signature alone is accepted if no HSK/CEK chain is available. */
  csvAllowPekOnly?: boolean;
}

export interface CsvAttesterConfig {
  /** An external report command instead of the built-in ioctl helper (request hex as last argument, report on stdout). */
  csvReportCommand?: string[];
  /** The native ioctl helper (default $AENV_TEE_HELPER, else .tools/bin/aenv-tee-helper). */
  teeHelper?: string;
  /** Directory of <chip serial>/hsk_cek.cert files sent along with the report. */
  csvHskCekDir?: string;
}

export const csvPlugin = definePlatform<'csv', CsvVerifierOptions, CsvAttesterConfig>({
  name: 'csv',
  auxKeys: CSV_AUX_KEYS,
  // Trustflow's HygonCsvReport: the HSK/CEK chain and chip id in fields of their own.
  ual: {
    teePlatform: 'CSV',
    toReport: (aux) => ({ fields: { json_cert_chain: JSON.stringify({ b64_hsk_cert: aux.hsk ?? '', b64_cek_cert: aux.cek ?? '' }), str_chip_id: aux.chip_id ?? '' }, used: ['hsk', 'cek', 'chip_id'] }),
    fromReport: (_rep, str) => {
      const out: Record<string, string> = {};
      const chain = str('json_cert_chain');
      if (chain) {
        let c: unknown;
        try {
          c = JSON.parse(chain);
        } catch (cause) {
          throw new PlatformError('EVIDENCE_MALFORMED', 'json_cert_chain is not valid JSON', { cause });
        }
        if (!c || typeof c !== 'object' || Array.isArray(c)) throw new PlatformError('EVIDENCE_MALFORMED', 'json_cert_chain must be a JSON object');
        const o = c as Record<string, unknown>;
        for (const [k, aux] of [['b64_hsk_cert', 'hsk'], ['b64_cek_cert', 'cek']] as const) {
          const v = o[k];
          if (v === undefined || v === '') continue;
          if (typeof v !== 'string') throw new PlatformError('EVIDENCE_MALFORMED', `report field ${k} must be a string`);
          out[aux] = v;
        }
      }
      const chip = str('str_chip_id');
      if (chip) out.chip_id = chip;
      return out;
    },
  },
  attesterOptions: Type.Object({ csvReportCommand: Type.Optional(Type.Array(Type.String(), { minItems: 1 })), csvHskCekDir: Type.Optional(Type.String({ minLength: 1 })), teeHelper: Type.Optional(Type.String({ minLength: 1 })) }),
  createVerifier: (o) => createCsvVerifier(o),
  createAttester: (o) => createCsvAttester({ root: o.root, command: o.csvReportCommand, hskCekDir: o.csvHskCekDir, teeHelper: o.teeHelper }),
});
