// TPM 2.0 attester: TPM2_Quote over the configured PCRs (sha256 bank) with the
// AK at a persistent handle (default 0x81010002), the 64-byte report data as
// qualifyingData, plus the PCR values and the AK public key as aux.
// The TPM is reached, in this order: an injected transport; a TPM simulator
// socket (`tpmSimulator`, TCG simulator protocol: swtpm, for development); the
// character device `tpmDevice`, default <root>/dev/tpmrm0 (the kernel's resource
// manager), each command one write() and one read() (platforms/transport/tpm.ts).
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { tpmDeviceTransport, tpmSimulatorTransport } from '../../transport/tpm.ts';
import { PlatformError } from '../../errors.ts';
import { padReportData } from '../../core/report-data.ts';
import type { Attester, Evidence } from '../../core/types.ts';
import { ALG, computePcrDigest, parseTpmsAttest, parseTpmtSignature } from './attest.ts';
import { tpmPcrRead, tpmQuote, tpmReadPublic, type TpmTransport } from './commands.ts';

export const DEFAULT_AK_HANDLE = 0x81010002;
export const DEFAULT_PCRS = [0, 1, 2, 3, 4, 5, 6, 7];

/** The character-device transport (kept here for existing callers; see transport/tpm.ts). */
export function deviceTransport(path: string): TpmTransport {
  return tpmDeviceTransport(path);
}

// TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING: "send the same command again" (the
// kernel's driver retries these itself; a simulator socket hands them through).
const RETRY_RCS = new Set([0x922, 0x908, 0x90a]);

function retrying(t: TpmTransport, tries = 20, delayMs = 50): TpmTransport {
  return {
    async transmit(cmd) {
      for (let i = 0; ; i++) {
        const resp = await t.transmit(cmd);
        if (i >= tries || resp.length < 10 || !RETRY_RCS.has(resp.readUInt32BE(6))) return resp;
        await new Promise((r) => setTimeout(r, delayMs));
      }
    },
  };
}

export interface TpmAttesterOptions {
  root?: string;
  akHandle?: number;
  pcrs?: number[];
  transport?: TpmTransport;
  /** The TPM character device (default <root>/dev/tpmrm0). */
  device?: string;
  /** A TPM simulator: "host:port", "tcp:host:port" or "unix:/path" (swtpm socket --server). */
  simulator?: string;
}

export function createTpmAttester(o: TpmAttesterOptions = {}): Attester {
  const device = o.device ?? join(o.root ?? '/', 'dev/tpmrm0');
  const transport = retrying(o.transport ?? (o.simulator ? tpmSimulatorTransport(o.simulator) : tpmDeviceTransport(device)));
  const pcrs = o.pcrs ?? DEFAULT_PCRS;
  if (pcrs.some((p) => !Number.isInteger(p) || p < 0 || p > 23)) throw new PlatformError('INVALID_INPUT', 'TPM PCR indexes must be 0..23');
  return {
    platform: 'tpm',
    async detect() {
      if (o.transport || o.simulator) return true;
      try {
        await access(device, constants.R_OK | constants.W_OK);
        return true;
      } catch {
        return false;
      }
    },
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const rd = padReportData(reportData);
      const ak = o.akHandle ?? DEFAULT_AK_HANDLE;
      const sel = { hash: ALG.SHA256, pcrs: [...pcrs].sort((a, b) => a - b) };
      // A PCR extended between Quote and PCR_Read would make the values disagree with
      // the signed pcrDigest: check here and quote again (at most 3 tries).
      let attest: Buffer | undefined;
      let signature: Buffer | undefined;
      let values = new Map<number, Buffer>();
      for (let attempt = 0; ; attempt++) {
        ({ attest, signature } = await tpmQuote(transport, ak, rd, [sel]));
        values = await tpmPcrRead(transport, sel);
        const q = parseTpmsAttest(attest);
        const digest = computePcrDigest(q.selections, new Map([...values].map(([i, v]) => [`${sel.hash}:${i}`, v])), parseTpmtSignature(signature).hash);
        if (digest.equals(q.pcrDigest)) break;
        if (attempt === 2) throw new PlatformError('DEVICE_ERROR', 'TPM PCR values kept changing between TPM2_Quote and TPM2_PCR_Read');
      }
      const akPub = await tpmReadPublic(transport, ak);
      return {
        platform: 'tpm',
        quote: new Uint8Array(attest),
        aux: {
          signature: signature.toString('base64'),
          pcrs: JSON.stringify({ sha256: Object.fromEntries([...values].map(([i, v]) => [String(i), v.toString('hex')])) }),
          ak_public: akPub.export({ type: 'spki', format: 'der' }).toString('base64'),
        },
      };
    },
  };
}
