// Evidence <-> Trustflow's UnifiedAttestationReport (JSON form, snake_case names
// as in secretflowapis/v2/sdc/ual.proto). Trustflow knows SGX_DCAP, TDX and CSV;
// this project adds SEV_SNP, TPM and SIM with the same {b64_quote, ...} shape.
// Each plugin declares its str_tee_platform and the aux keys that travel in
// report fields of their own (its `ual` mapping); every other aux key travels
// as a JSON string in json_aux.
import { PlatformError } from '../errors.ts';
import type { Evidence } from '../core/types.ts';
import { PLUGINS } from './index.ts';

export interface UalReportJson {
  str_report_version: string;
  str_report_type: string;
  str_tee_platform: string;
  json_report: string;
  json_nested_reports?: string;
}

export function evidenceToUal(e: Evidence): UalReportJson {
  const plugin = PLUGINS.find((p) => p.name === e.platform);
  if (!plugin) throw new PlatformError('UNKNOWN_PLATFORM', `no plugin for platform "${e.platform}"`);
  const aux: Record<string, string> = { ...(e.aux ?? {}) };
  const own = plugin.ual.toReport?.(aux);
  for (const k of own?.used ?? []) delete aux[k];
  const report: Record<string, string> = { b64_quote: Buffer.from(e.quote).toString('base64'), ...(own?.fields ?? {}) };
  if (Object.keys(aux).length > 0) report.json_aux = JSON.stringify(aux);
  return { str_report_version: '1.0', str_report_type: 'Passport', str_tee_platform: plugin.ual.teePlatform, json_report: JSON.stringify(report) };
}

function parseJson(text: string, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (cause) {
    throw new PlatformError('EVIDENCE_MALFORMED', `${what} is not valid JSON`, { cause });
  }
  throw new PlatformError('EVIDENCE_MALFORMED', `${what} must be a JSON object`);
}

function str(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new PlatformError('EVIDENCE_MALFORMED', `report field ${k} must be a string`);
  return v;
}

export function ualToEvidence(r: unknown): Evidence {
  if (!r || typeof r !== 'object') throw new PlatformError('EVIDENCE_MALFORMED', 'attestation_report must be an object');
  const o = r as Record<string, unknown>;
  const tee = o.str_tee_platform;
  const plugin = PLUGINS.find((p) => p.ual.teePlatform === tee);
  if (!plugin) throw new PlatformError('UNKNOWN_PLATFORM', `unknown str_tee_platform ${JSON.stringify(tee)}`);
  const platform = plugin.name;
  if (typeof o.json_report !== 'string') throw new PlatformError('EVIDENCE_MALFORMED', 'attestation_report.json_report must be a string');
  const rep = parseJson(o.json_report, 'json_report');
  const b64 = str(rep, 'b64_quote');
  if (!b64 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new PlatformError('EVIDENCE_MALFORMED', 'json_report.b64_quote must be base64');
  const aux: Record<string, string> = {};
  const jsonAux = str(rep, 'json_aux');
  if (jsonAux) {
    for (const [k, v] of Object.entries(parseJson(jsonAux, 'json_aux'))) {
      if (typeof v !== 'string') throw new PlatformError('EVIDENCE_MALFORMED', `json_aux.${k} must be a string`);
      aux[k] = v;
    }
  }
  Object.assign(aux, plugin.ual.fromReport?.(rep, (k) => str(rep, k)) ?? {});
  const quote = new Uint8Array(Buffer.from(b64, 'base64'));
  return Object.keys(aux).length > 0 ? { platform, quote, aux } : { platform, quote };
}
