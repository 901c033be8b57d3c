// SGX attester inside a LibOS:
//  - Gramine: write 64 bytes to /dev/attestation/user_report_data, read
//    /dev/attestation/quote; /dev/attestation/attestation_type must be "dcap".
//  - Occlum: /dev/sgx needs an ioctl (SGX_CMD_GEN_DCAP_QUOTE), which Node cannot
//    issue; a helper command (AttesterOptions.sgxQuoteCommand, e.g. Occlum's
//    dcap quote tool) receives the report data as hex on argv and prints the
//    quote to stdout.
import { pathExists } from '../../../foundation/paths.ts';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PlatformError } from '../../errors.ts';
import { padReportData } from '../../core/report-data.ts';
import type { Attester, Evidence } from '../../core/types.ts';

const run = promisify(execFile);


export function createSgxAttester(root = '/', quoteCommand?: string[]): Attester {
  const att = join(root, 'dev/attestation');
  async function gramine(): Promise<boolean> {
    if (!(await pathExists(join(att, 'quote')))) return false;
    const type = await readFile(join(att, 'attestation_type'), 'utf8').catch(() => 'dcap');
    return type.trim() === 'dcap';
  }
  async function occlum(): Promise<boolean> {
    return quoteCommand !== undefined && quoteCommand.length > 0 && (await pathExists(join(root, 'dev/sgx')));
  }
  return {
    platform: 'sgx',
    async detect() {
      return (await gramine()) || (await occlum());
    },
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const rd = padReportData(reportData);
      if (await gramine()) {
        try {
          await writeFile(join(att, 'user_report_data'), rd);
          const quote = await readFile(join(att, 'quote'));
          return { platform: 'sgx', quote: new Uint8Array(quote) };
        } catch (cause) {
          throw new PlatformError('DEVICE_ERROR', 'Gramine /dev/attestation did not produce a quote', { cause });
        }
      }
      if (await occlum()) {
        try {
          const { stdout } = await run(quoteCommand![0]!, [...quoteCommand!.slice(1), rd.toString('hex')], { encoding: 'buffer', maxBuffer: 1 << 20, timeout: 30_000 });
          return { platform: 'sgx', quote: new Uint8Array(stdout) };
        } catch (cause) {
          throw new PlatformError('DEVICE_ERROR', 'the Occlum SGX quote command failed', { cause });
        }
      }
      throw new PlatformError('NO_PLATFORM', 'no SGX quote source: neither Gramine /dev/attestation (dcap) nor Occlum /dev/sgx with a quote command');
    },
  };
}
