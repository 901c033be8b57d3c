// Benchmark: `.enc` encryptFile / decryptFile on a large file (default 1 GiB)
// against a plain stream copy of the same file in the same run, with throughput
// and peak RSS per phase. A small run (default 64 MiB) in the same process shows
// that peak memory does not grow with the input size. Writes
// bench/results/dcp-stream.json. Disk use is bounded (at most 2 files of the
// large size exist at once, ~2 GiB) and everything is deleted at the end, also
// on failure.
//
//   node --import=tsx bench/dcp-stream.ts [--size-mib 1024] [--small-mib 64] [--key-bytes 16]
import { createDecipheriv, createCipheriv, createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../dev/toolchain.ts';
import { decryptFile, decryptStream, encNativeStatus, encryptFile } from '../data-capsule-proxy/index.ts';

/** A sink that discards: isolates read + crypto from write cost. */
const devNull = () => new Writable({ write(_c: Buffer, _e, cb) { cb(); } });

const MiB = 1024 * 1024;

interface Phase {
  phase: string;
  sizeMiB: number;
  seconds: number;
  mibPerSec: number;
  rssBeforeMiB: number;
  peakRssMiB: number;
  peakDeltaMiB: number;
}

function rssMiB(): number {
  return process.memoryUsage.rss() / MiB;
}

/** Runs fn while sampling RSS every 20 ms; returns elapsed seconds and the peak. */
async function measure(phase: string, bytes: number, fn: () => Promise<void>): Promise<Phase> {
  (globalThis as { gc?: () => void }).gc?.();
  const before = rssMiB();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB());
  }, 20);
  const t0 = performance.now();
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - t0) / 1000;
  peak = Math.max(peak, rssMiB());
  const r = (x: number) => Math.round(x * 10) / 10;
  return { phase, sizeMiB: r(bytes / MiB), seconds: Math.round(seconds * 1000) / 1000, mibPerSec: r(bytes / MiB / seconds), rssBeforeMiB: r(before), peakRssMiB: r(peak), peakDeltaMiB: r(peak - before) };
}

/** Writes `bytes` of pseudo-random content (a 1 MiB random block, varied per MiB) and returns its SHA-256. */
async function generate(path: string, bytes: number): Promise<string> {
  const block = randomBytes(MiB);
  const h = createHash('sha256');
  const out = createWriteStream(path);
  for (let off = 0; off < bytes; off += MiB) {
    const n = Math.min(MiB, bytes - off);
    block.writeUInt32LE(off / MiB, 0);
    const chunk = block.subarray(0, n);
    h.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return h.digest('hex');
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), new Writable({ write(c: Buffer, _e, cb) { h.update(c); cb(); } }));
  return h.digest('hex');
}

/**
 * The AES-GCM ceiling at the format's 8 KiB blocks, one thread: `openssl speed
 * -evp aes-<bits>-gcm -decrypt -bytes 8192` (OpenSSL's own loop, the best this CPU does)
 * and node:crypto's one-shot decipher of 8 KiB blocks with their tags (what any
 * Node code can reach), in MiB/s.
 */
function aesGcmCeilings(key: Buffer, seconds: number): { opensslMiBps: number; nodeMiBps: number } {
  const bits = key.length * 8;
  const out = execFileSync('openssl', ['speed', '-evp', `aes-${bits}-gcm`, '-decrypt', '-bytes', '8192', '-seconds', String(seconds)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const m = new RegExp(`AES-${bits}-GCM\\s+([0-9.]+)k`, 'i').exec(out);
  if (!m) throw new Error(`cannot parse openssl speed output:\n${out}`);
  const opensslMiBps = Math.round(((Number(m[1]) * 1000) / MiB) * 10) / 10;
  const block = randomBytes(8192);
  const iv = randomBytes(12);
  const c = createCipheriv(`aes-${bits}-gcm` as 'aes-128-gcm', key, iv);
  const ct = Buffer.concat([c.update(block), c.final()]);
  const tag = c.getAuthTag();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const d = createDecipheriv(`aes-${bits}-gcm` as 'aes-128-gcm', key, iv);
    d.setAuthTag(tag);
    d.update(ct);
    d.final();
    n++;
  }
  const nodeMiBps = Math.round(((n * 8192) / MiB / ((performance.now() - t0) / 1000)) * 10) / 10;
  return { opensslMiBps, nodeMiBps };
}

async function run(dir: string, bytes: number, key: Buffer): Promise<Phase[]> {
  const plain = join(dir, 'plain.bin');
  const enc = join(dir, 'plain.bin.enc');
  const copy = join(dir, 'copy.bin');
  const out = join(dir, 'out.bin');
  const digest = await generate(plain, bytes);
  const phases: Phase[] = [];
  phases.push(await measure('baseline: stream copy', bytes, () => pipeline(createReadStream(plain), createWriteStream(copy))));
  rmSync(copy);
  // encryptFile/decryptFile fsync before rename; this baseline pays the same.
  phases.push(await measure('baseline: copy + fsync', bytes, () => pipeline(createReadStream(plain), createWriteStream(copy, { flush: true }))));
  rmSync(copy);
  phases.push(await measure('baseline: read only', bytes, () => pipeline(createReadStream(plain), devNull())));
  phases.push(await measure('encryptFile', bytes, async () => void (await encryptFile(plain, enc, key))));
  rmSync(plain);
  phases.push(await measure('decryptStream, no write', bytes, () => pipeline(createReadStream(enc), decryptStream(key), devNull())));
  // The decrypt stream alone: the .enc in memory (64 KiB chunks), no disk at all.
  if (bytes <= 256 * MiB) {
    const encBuf = readFileSync(enc);
    const chunks = Array.from({ length: Math.ceil(encBuf.length / 65536) }, (_, i) => encBuf.subarray(i * 65536, (i + 1) * 65536));
    // One pass unmeasured first (64 MiB take ~0.1 s, so JIT warm-up and the first
    // allocations were most of a single pass), then 16 passes measured (1 GiB).
    const big = Array.from({ length: Math.ceil(encBuf.length / MiB) }, (_, i) => encBuf.subarray(i * MiB, (i + 1) * MiB));
    // The blocks opened by the native opener (native/aenv-enc-block) when built, and through node:crypto.
    const pass = (c: Buffer[], native: boolean) => pipeline(Readable.from(c, { objectMode: false }), decryptStream(key, native ? {} : { native: null }), devNull());
    for (const [name, c, native] of [
      ['decryptStream, in memory', chunks, true],
      ['decryptStream, in memory, 1 MiB chunks', big, true],
      ['decryptStream, in memory, node:crypto per block', chunks, false],
    ] as const) {
      await pass(c, native);
      execFileSync('sync'); // no writeback of the file phases before on the other core meanwhile
      phases.push(await measure(name, bytes * 16, async () => { for (let i = 0; i < 16; i++) await pass(c, native); }));
    }
  }
  // decryptFile beside a copy + fsync measured right before it, two rounds: the
  // phases before leave dirty pages behind whose writeback slows whatever runs
  // next, so only an adjacent baseline compares (the .enc itself is copied).
  // Three rounds; a `sync` before each measured phase, so neither starts under
  // the writeback of the one before.
  const encSize = statSync(enc).size;
  for (let round = 0; round < 3; round++) {
    execFileSync('sync');
    phases.push(await measure('baseline: copy + fsync, beside decryptFile', encSize, () => pipeline(createReadStream(enc), createWriteStream(copy, { flush: true }))));
    rmSync(copy);
    execFileSync('sync');
    phases.push(await measure('decryptFile', bytes, async () => void (await decryptFile(enc, out, key))));
    if (round < 2) rmSync(out);
  }
  rmSync(enc);
  if ((await sha256File(out)) !== digest) throw new Error('round trip mismatch: decrypted file differs from the original');
  rmSync(out);
  console.log(`  ${bytes / MiB} MiB: .enc size ${encSize} (overhead ${(((encSize - bytes) / bytes) * 100).toFixed(2)}%), round trip verified`);
  return phases;
}

import { writeBenchResult } from './lib/results.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'size-mib': { type: 'string', default: '1024' }, 'small-mib': { type: 'string', default: '64' }, 'key-bytes': { type: 'string', default: '16' } },
  });
  const large = Number(values['size-mib']) * MiB;
  const small = Number(values['small-mib']) * MiB;
  const key = randomBytes(Number(values['key-bytes']));
  const dir = mkdtempSync(join(tmpdir(), 'dcp-bench-'));
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  if (free < 2.2 * large + 512 * MiB) throw new Error(`not enough free disk in ${dir}: ${Math.round(free / MiB)} MiB, need ~${Math.round((2.2 * large) / MiB + 512)} MiB`);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  let results: Phase[] = [];
  const ceilings: { before?: { opensslMiBps: number; nodeMiBps: number } } = {};
  try {
    console.log(`dcp-stream: AES-${key.length * 8}-GCM, temp dir ${dir}`);
    results = [...(await run(dir, small, key)), ...(await run(dir, large, key))];
    ceilings.before = aesGcmCeilings(key, 2);
  } finally {
    cleanup();
  }
  const get = (p: string, size: number) => results.find((r) => r.phase === p && r.sizeMiB === size / MiB)!;
  const base = get('baseline: copy + fsync', large);
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  /** decryptFile / the copy + fsync just before it, per round. */
  const adjacent = (size: number): number[] => {
    const out: number[] = [];
    for (let i = 1; i < results.length; i++) {
      const [b, d] = [results[i - 1]!, results[i]!];
      if (d.phase === 'decryptFile' && d.sizeMiB === size / MiB && b.phase === 'baseline: copy + fsync, beside decryptFile') out.push(d.mibPerSec / b.mibPerSec);
    }
    return out;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
  // Measured right after the runs (the machine as loaded as it was); the higher openssl figure is the ceiling.
  const aes = ceilings.before!;
  const inMemory = results.find((r) => r.phase === 'decryptStream, in memory')!;
  const summary = {
    aesGcmCeilingMiBps: aes.opensslMiBps,
    nodeAesGcm8kMiBps: aes.nodeMiBps,
    /** Target >= 0.7: the in-memory decrypt stream against the AES-GCM ceiling at 8 KiB blocks. */
    decryptStreamInMemoryVsAesCeiling: ratio(inMemory.mibPerSec, aes.opensslMiBps),
    decryptStreamInMemoryVsNodeAes: ratio(inMemory.mibPerSec, aes.nodeMiBps),
    /** The same with 1 MiB chunks (decryptFile's reads), and with every block through node:crypto. */
    decryptStreamInMemory1MiBVsAesCeiling: ratio(results.find((r) => r.phase === 'decryptStream, in memory, 1 MiB chunks')!.mibPerSec, aes.opensslMiBps),
    decryptStreamInMemoryNodeCryptoVsAesCeiling: ratio(results.find((r) => r.phase === 'decryptStream, in memory, node:crypto per block')!.mibPerSec, aes.opensslMiBps),
    blockOpener: encNativeStatus,
    encryptFileVsCopyFsync: ratio(get('encryptFile', large).mibPerSec, base.mibPerSec),
    /** Target >= 0.9: each decryptFile round over the copy + fsync measured just before it (median of the rounds). */
    decryptFileVsCopyFsync: ratio(median(adjacent(large)), 1),
    decryptFileVsCopyFsyncRounds: adjacent(large).map((x) => ratio(x, 1)),
    decryptFileVsFirstCopyFsync: ratio(get('decryptFile', large).mibPerSec, base.mibPerSec),
    decryptStreamVsReadOnly: ratio(get('decryptStream, no write', large).mibPerSec, get('baseline: read only', large).mibPerSec),
    // Flat memory: the peak RSS growth for the large input vs the small one.
    decryptPeakDeltaLargeMiB: get('decryptFile', large).peakDeltaMiB,
    decryptPeakDeltaSmallMiB: get('decryptFile', small).peakDeltaMiB,
    encryptPeakDeltaLargeMiB: get('encryptFile', large).peakDeltaMiB,
    encryptPeakDeltaSmallMiB: get('encryptFile', small).peakDeltaMiB,
    maxRssWholeRunMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  for (const r of results) console.log(`  ${String(r.sizeMiB).padStart(5)} MiB  ${r.phase.padEnd(24)} ${String(r.mibPerSec).padStart(7)} MiB/s  ${String(r.seconds).padStart(6)} s  peak RSS ${r.peakRssMiB} MiB (+${r.peakDeltaMiB})`);
  console.log('  summary', summary);
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    settings: { largeMiB: large / MiB, smallMiB: small / MiB, keyBytes: key.length, blockLen: 8192 },
    results,
    summary,
  };
  mkdirSync(join(PROJECT_ROOT, 'bench/results'), { recursive: true });
  console.log(`wrote ${writeBenchResult('dcp-stream', report)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
