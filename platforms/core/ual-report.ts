// Evidence <-> Trustflow's UnifiedAttestationReport (JSON form, snake_case names
// as in secretflowapis/v2/sdc/ual.proto). Trustflow knows SGX_DCAP, TDX and CSV;
// this project adds SEV_SNP, TPM and SIM with the same {b64_quote, ...} shape and
// the evidence aux map carried as a JSON string in json_aux.
import { PlatformError } from '../errors.ts';
import type { Evidence, PlatformName } from './types.ts';

export interface UalReportJson {
  str_report_version: string;
  str_report_type: string;
  str_tee_platform: string;
  json_report: string;
  json_nested_reports?: string;
}

const TEE_NAMES: Record<PlatformName, string> = {
  sgx: 'SGX_DCAP',
  tdx: 'TDX',
  csv: 'CSV',
  'sev-snp': 'SEV_SNP',
  tpm: 'TPM',
  sim: 'SIM',
};

export function evidenceToUal(e: Evidence): UalReportJson {
  const b64_quote = Buffer.from(e.quote).toString('base64');
  const aux = { ...(e.aux ?? {}) };
  let report: Record<string, string>;
  if (e.platform === 'sgx' || e.platform === 'tdx') {
    report = { b64_quote, json_collateral: aux.collateral ?? '' };
    delete aux.collateral;
  } else if (e.platform === 'csv') {
    report = { b64_quote, json_cert_chain: JSON.stringify({ b64_hsk_cert: aux.hsk ?? '', b64_cek_cert: aux.cek ?? '' }), str_chip_id: aux.chip_id ?? '' };
    delete aux.hsk;
    delete aux.cek;
    delete aux.chip_id;
  } else {
    report = { b64_quote };
  }
  if (Object.keys(aux).length > 0) report.json_aux = JSON.stringify(aux);
  return { str_report_version: '1.0', str_report_type: 'Passport', str_tee_platform: TEE_NAMES[e.platform], json_report: JSON.stringify(report) };
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
  const platform = (Object.keys(TEE_NAMES) as PlatformName[]).find((p) => TEE_NAMES[p] === tee);
  if (!platform) throw new PlatformError('UNKNOWN_PLATFORM', `unknown str_tee_platform ${JSON.stringify(tee)}`);
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
  const coll = str(rep, 'json_collateral');
  if (coll) aux.collateral = coll;
  const chain = str(rep, 'json_cert_chain');
  if (chain) {
    const c = parseJson(chain, 'json_cert_chain');
    const hsk = str(c, 'b64_hsk_cert');
    const cek = str(c, 'b64_cek_cert');
    if (hsk) aux.hsk = hsk;
    if (cek) aux.cek = cek;
  }
  const chip = str(rep, 'str_chip_id');
  if (chip) aux.chip_id = chip;
  const quote = new Uint8Array(Buffer.from(b64, 'base64'));
  return Object.keys(aux).length > 0 ? { platform, quote, aux } : { platform, quote };
}
