// TDX attester. Two quote paths, tried in this order:
//  1. configfs-tsm (Linux 6.7+, <root>/sys/kernel/config/tsm/report, provider
//     tdx_guest): the kernel asks the host's QGS itself; outblob is the quote.
//  2. /dev/tdx_guest (Linux 6.2+): TDX_CMD_GET_REPORT0 through the native helper
//     gives the TDREPORT (REPORTDATA at offset 128, MRTD in TDINFO), then the QGS
//     turns it into a quote: at `tdxQgs` ("vsock:<cid>:<port>" or
//     "unix:<path>"), else at vsock CID 2 with the `port` of <root>/etc/tdx-attest.conf
//     (as Intel's libtdx_attest reads it), else at <root>/var/run/tdx-qgs/qgs.socket.
// The quote must carry the requested REPORTDATA and the TDREPORT's MRTD.
// The legacy TDX_CMD_GET_QUOTE ioctl of Intel's out-of-tree driver is not used.
import { pathExists } from '../../../foundation/paths.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tsmAvailable, tsmGetReport } from '../../transport/configfs-tsm.ts';
import { parseQgsEndpoint, qgsGetQuote, QGS_DEFAULT_UNIX_SOCKET, type QgsEndpoint } from '../../transport/qgs.ts';
import { hexField, runTeeHelper, TEE_ABI, TEE_FORMATS } from '../../transport/tee-helper.ts';
import { PlatformError } from '../../errors.ts';
import { padReportData } from '../../core/report-data.ts';
import { parseDcapQuote, parseTdxReportBody } from '../../core/dcap/quote.ts';
import type { Attester, Evidence } from '../../core/types.ts';

const DEVICES = ['dev/tdx_guest', 'dev/tdx-guest'];
const SYSFS = 'sys/devices/virtual/misc/tdx_guest';


async function tdxDevice(root: string): Promise<string | undefined> {
  for (const d of DEVICES) if (await pathExists(join(root, d))) return join(root, d);
  return undefined;
}

/** Intel's /etc/tdx-attest.conf: a line `port = <n>` selects the QGS on vsock (host CID 2). */
export function tdxAttestConfPort(text: string): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^\s*port\s*=\s*(\d{1,10})\s*$/.exec(line);
    if (m) {
      const p = Number(m[1]);
      return p > 0 && p <= 0xffffffff ? p : undefined;
    }
  }
  return undefined;
}

/** Which QGS the /dev/tdx_guest path uses (see the header), or undefined when none is configured. */
export async function resolveQgsEndpoint(root: string, configured?: string): Promise<QgsEndpoint | undefined> {
  if (configured) return parseQgsEndpoint(configured);
  const conf = await readFile(join(root, 'etc/tdx-attest.conf'), 'utf8').catch(() => undefined);
  const port = conf === undefined ? undefined : tdxAttestConfPort(conf);
  if (port !== undefined) return { kind: 'vsock', cid: TEE_ABI.constants.VMADDR_CID_HOST, port };
  const sock = join(root, QGS_DEFAULT_UNIX_SOCKET);
  if (await pathExists(sock)) return { kind: 'unix', path: sock };
  return undefined;
}

export interface TdxAttesterOptions {
  root?: string;
  /** QGS endpoint for the /dev/tdx_guest path: "vsock:<cid>:<port>" or "unix:<path>". */
  qgs?: string;
  /** Path of the native helper (default: $AENV_TEE_HELPER, .tools/bin/aenv-tee-helper). */
  teeHelper?: string;
  timeoutMs?: number;
}

/** TDX_CMD_GET_REPORT0 through the helper: the 1024-byte TDREPORT for this REPORTDATA. */
export async function tdxGetReport(device: string, reportData: Buffer, o: { teeHelper?: string; timeoutMs?: number } = {}): Promise<Buffer> {
  const answer = await runTeeHelper('tdx-report', ['--device', device], reportData.toString('hex'), { helper: o.teeHelper, timeoutMs: o.timeoutMs });
  const tdreport = hexField(answer, 'tdreport', TEE_ABI.structs.tdx_report_req.fields.tdreport[1]);
  const [at, len] = TEE_FORMATS.tdreport.reportData;
  if (!tdreport.subarray(at, at + len).equals(reportData)) throw new PlatformError('DEVICE_ERROR', 'the TDREPORT does not carry the requested REPORTDATA');
  return tdreport;
}

export function createTdxAttester(opts: TdxAttesterOptions | string = {}): Attester {
  const o: TdxAttesterOptions = typeof opts === 'string' ? { root: opts } : opts;
  const root = o.root ?? '/';
  return {
    platform: 'tdx',
    async detect() {
      // A TDX guest: the tdx_guest misc device, or its sysfs node when configfs-tsm can quote.
      if (await tdxDevice(root)) return true;
      return (await tsmAvailable(root)) && (await pathExists(join(root, SYSFS)));
    },
    async getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const rd = padReportData(reportData);
      if (await tsmAvailable(root)) {
        const r = await tsmGetReport(root, { inblob: rd, provider: 'tdx_guest' });
        return { platform: 'tdx', quote: new Uint8Array(r.outblob) };
      }
      const device = await tdxDevice(root);
      if (!device) throw new PlatformError('NO_PLATFORM', 'no TDX quote path: neither configfs-tsm (/sys/kernel/config/tsm/report) nor /dev/tdx_guest is present');
      const endpoint = await resolveQgsEndpoint(root, o.qgs);
      if (!endpoint) {
        throw new PlatformError('NO_PLATFORM', 'TDX without configfs-tsm needs a quote generation service: set tdxQgs ("vsock:2:4050"), or `port = 4050` in /etc/tdx-attest.conf, or mount /var/run/tdx-qgs/qgs.socket');
      }
      const tdreport = await tdxGetReport(device, rd, o);
      const quote = await qgsGetQuote(endpoint, tdreport, { helper: o.teeHelper, timeoutMs: o.timeoutMs });
      let body;
      try {
        body = parseTdxReportBody(parseDcapQuote(quote).body);
      } catch (cause) {
        throw new PlatformError('DEVICE_ERROR', 'the QGS answered with something that is not a TDX quote', { cause });
      }
      if (!body.reportData.equals(rd)) throw new PlatformError('DEVICE_ERROR', 'the QGS quote does not carry the requested REPORTDATA');
      const [mt, ml] = TEE_FORMATS.tdreport.mrTd;
      if (!body.mrTd.equals(tdreport.subarray(mt, mt + ml))) throw new PlatformError('DEVICE_ERROR', 'the QGS quote is not of this TD (MRTD differs from the TDREPORT)');
      return { platform: 'tdx', quote: new Uint8Array(quote) };
    },
  };
}

/** Reads TDX measurement registers from sysfs (Linux 6.16+), when present. */
export async function readTdxSysfsMeasurements(root = '/'): Promise<Record<string, string>> {
  const dir = join(root, 'sys/devices/virtual/misc/tdx_guest/measurements');
  const out: Record<string, string> = {};
  for (const n of ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3']) {
    try {
      out[n] = (await readFile(join(dir, `${n}:sha384`))).toString('hex');
    } catch {
      /* absent on older kernels */
    }
  }
  return out;
}
