// Evidence <-> JSON wire form: {platform, quote: base64, aux?: {string: string}}.
// Decoding is strict: unknown platform names, non-base64 quotes, non-string aux
// values and oversized inputs are rejected before any parser sees them.
import { PlatformError } from '../errors.ts';
import type { Evidence, PlatformName } from '../core/types.ts';
import { isPlatformName, PLATFORM_NAMES } from './index.ts';
/** Largest quote accepted on the wire (real quotes are < 16 KiB). */
export const MAX_QUOTE_BYTES = 64 * 1024;
const MAX_AUX_ENTRIES = 16;
const MAX_AUX_VALUE = 128 * 1024;

export interface EncodedEvidence {
  platform: PlatformName;
  quote: string;
  aux?: Record<string, string>;
}

export function encodeEvidence(e: Evidence): EncodedEvidence {
  const out: EncodedEvidence = { platform: e.platform, quote: Buffer.from(e.quote).toString('base64') };
  if (e.aux && Object.keys(e.aux).length > 0) out.aux = { ...e.aux };
  return out;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function decodeEvidence(json: unknown): Evidence {
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (cause) {
      throw new PlatformError('EVIDENCE_MALFORMED', 'evidence is not valid JSON', { cause });
    }
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new PlatformError('EVIDENCE_MALFORMED', 'evidence must be a JSON object');
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'platform' && k !== 'quote' && k !== 'aux') throw new PlatformError('EVIDENCE_MALFORMED', `evidence has unknown field "${k}"`);
  }
  if (!isPlatformName(o.platform)) throw new PlatformError('UNKNOWN_PLATFORM', `evidence.platform must be one of ${PLATFORM_NAMES.join(', ')}`);
  if (typeof o.quote !== 'string' || o.quote.length === 0) throw new PlatformError('EVIDENCE_MALFORMED', 'evidence.quote must be a non-empty base64 string');
  if (o.quote.length > Math.ceil(MAX_QUOTE_BYTES / 3) * 4) throw new PlatformError('EVIDENCE_MALFORMED', `evidence.quote exceeds ${MAX_QUOTE_BYTES} bytes`);
  if (o.quote.length % 4 !== 0 || !B64.test(o.quote)) throw new PlatformError('EVIDENCE_MALFORMED', 'evidence.quote is not standard base64');
  const quote = new Uint8Array(Buffer.from(o.quote, 'base64'));
  let aux: Record<string, string> | undefined;
  if (o.aux !== undefined) {
    if (!o.aux || typeof o.aux !== 'object' || Array.isArray(o.aux)) throw new PlatformError('EVIDENCE_MALFORMED', 'evidence.aux must be an object of strings');
    const entries = Object.entries(o.aux as Record<string, unknown>);
    if (entries.length > MAX_AUX_ENTRIES) throw new PlatformError('EVIDENCE_MALFORMED', `evidence.aux has more than ${MAX_AUX_ENTRIES} entries`);
    aux = {};
    for (const [k, v] of entries) {
      if (typeof v !== 'string') throw new PlatformError('EVIDENCE_MALFORMED', `evidence.aux.${k} must be a string`);
      if (v.length > MAX_AUX_VALUE) throw new PlatformError('EVIDENCE_MALFORMED', `evidence.aux.${k} is too large`);
      aux[k] = v;
    }
  }
  return aux ? { platform: o.platform, quote, aux } : { platform: o.platform, quote };
}
