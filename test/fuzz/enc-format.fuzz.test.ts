// Fuzzing the `.enc` reader of the data capsule proxy: arbitrary bytes, crafted
// headers (huge packet counts, odd block lengths) and mutations of real `.enc`
// output, fed in arbitrary chunkings. Property: plaintext or a DcpError, never
// another exception; an accepted mutation decrypts to the original plaintext
// (only the unused padding of the IV/MAC fields is unauthenticated); decryptFile
// leaves the destination as it was and no temp file behind when it fails.
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ENC_BLOCK_DATA_LEN, ENC_BLOCK_HEADER_LEN, ENC_HEADER_LEN, decodeDataKeyB64, decodeEncHeader, decryptFile, decryptStream, encodeEncHeader, encryptStream } from '../../data-capsule-proxy/core/enc-format.ts';
import { DcpError } from '../../data-capsule-proxy/errors.ts';
import { TEMP_MARKER } from '../../data-capsule-proxy/storage/atomic-file.ts';
import { checkProperty, expectTyped, fc } from './fuzz-config.ts';
import { applyEdits, byteEdits, unchanged } from './mutations.ts';

const KEY16 = Buffer.alloc(16, 0x11);
const KEY32 = Buffer.alloc(32, 0x22);

/** Splits `b` into chunks of the given sizes (cycled), as a file or socket might deliver it. */
function chunked(b: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < b.length; i++) {
    const n = sizes.length ? sizes[i % sizes.length]! : b.length;
    out.push(b.subarray(off, off + n));
    off += n;
  }
  return out;
}

async function run(input: Buffer, transform: NodeJS.ReadWriteStream, sizes: number[] = []): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    Readable.from(chunked(input, sizes)),
    transform,
    new Writable({
      write(b: Buffer, _e, cb) {
        parts.push(b);
        cb();
      },
    }),
  );
  return Buffer.concat(parts);
}

const encCache = new Map<string, Buffer>();
async function encrypt(plain: Buffer, key: Buffer): Promise<Buffer> {
  const k = `${key.length}:${plain.toString('base64')}`;
  let e = encCache.get(k);
  if (!e) {
    e = await run(plain, encryptStream(key, { plaintextLength: plain.length }));
    if (encCache.size > 64) encCache.clear();
    encCache.set(k, e);
  }
  return e;
}

/** Plaintexts of 0..3 blocks: the interesting lengths are around block boundaries. */
const plaintext = fc.oneof(
  fc.uint8Array({ maxLength: 100 }),
  fc.integer({ min: ENC_BLOCK_DATA_LEN - 2, max: 2 * ENC_BLOCK_DATA_LEN + 2 }).map((n) => new Uint8Array(n).map((_, i) => (i * 31) & 255)),
).map((u) => Buffer.from(u));
const chunkSizes = fc.array(fc.integer({ min: 1, max: 9000 }), { maxLength: 4 });
const key = fc.constantFrom(KEY16, KEY32);

t.test('.enc round-trips in any chunking (the properties below are not vacuous)', async (t) => {
  await checkProperty(t, 'enc round-trip', [plaintext, key, chunkSizes, chunkSizes], async (p, k, inSizes, outSizes) => {
    const enc = await run(p, encryptStream(k, { plaintextLength: p.length }), inSizes);
    const back = await run(enc, decryptStream(k), outSizes);
    return back.equals(p);
  }, { runs: 60 });
});

t.test('decodeEncHeader and decryptStream over arbitrary bytes', async (t) => {
  await checkProperty(t, 'decodeEncHeader arbitrary bytes', [fc.uint8Array({ maxLength: 40 })], (b) => {
    try {
      const h = decodeEncHeader(Buffer.from(b));
      if (!Number.isSafeInteger(h.packetCount) || h.blockLen <= ENC_BLOCK_HEADER_LEN) throw new Error(`accepted an implausible header ${JSON.stringify(h)}`);
    } catch (e) {
      expectTyped(e, DcpError);
    }
  }, { runs: 2000 });

  await checkProperty(t, 'decodeDataKeyB64 arbitrary text', [fc.oneof(fc.base64String({ maxLength: 60 }), fc.string({ maxLength: 60 }), fc.uint8Array({ minLength: 16, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64')))], (s) => {
    try {
      const k = decodeDataKeyB64(s);
      if (k.length !== 16 && k.length !== 32) throw new Error(`accepted a ${k.length}-byte key`);
      if (!k.equals(Buffer.from(s, 'base64'))) throw new Error(`decoded ${JSON.stringify(s)} to other bytes`);
    } catch (e) {
      expectTyped(e, DcpError);
    }
  }, { runs: 2000 });

  // Headers that pass version/schema so the block reader is what gets exercised.
  const crafted = fc.record({
    count: fc.oneof(fc.constantFrom(0n, 1n, 2n, 3n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    blockLen: fc.oneof(fc.constantFrom(0, 1, ENC_BLOCK_HEADER_LEN, ENC_BLOCK_HEADER_LEN + 1, 0x2000, 16 * 1024 * 1024, 16 * 1024 * 1024 + 1, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff })),
    blocks: fc.uint8Array({ maxLength: 600 }),
  }).map(({ count, blockLen, blocks }) => {
    const h = Buffer.alloc(ENC_HEADER_LEN);
    h.writeUInt32LE(1, 0);
    h.writeUInt32LE(1, 4);
    h.writeBigUInt64LE(count, 8);
    h.writeUInt32LE(blockLen, 16);
    return Buffer.concat([h, blocks]);
  });
  await checkProperty(t, 'decryptStream arbitrary and crafted input', [fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), crafted), key, chunkSizes], async (input, k, sizes) => {
    try {
      const out = await run(input, decryptStream(k), sizes);
      // Random bytes cannot carry a valid GCM tag: only empty plaintexts (packet_count 0, no block) get through.
      if (out.length !== 0) throw new Error(`random input decrypted to ${out.length} bytes`);
    } catch (e) {
      expectTyped(e, DcpError);
    }
  }, { runs: 1500 });
});

t.test('mutations of real .enc output: DcpError or the original plaintext', async (t) => {
  await checkProperty(t, 'mutated .enc streams', [plaintext, key, byteEdits(3), chunkSizes], async (p, k, edits, sizes) => {
    const enc = await encrypt(p, k);
    const bad = applyEdits(enc, edits);
    if (unchanged(bad, enc)) return;
    try {
      const out = await run(bad, decryptStream(k), sizes);
      if (!out.equals(p)) throw new Error(`a mutated .enc decrypted to different plaintext (${out.length} bytes, original ${p.length})`);
    } catch (e) {
      expectTyped(e, DcpError);
    }
  }, { runs: 400 });

  await checkProperty(t, 'packet_count mutations', [plaintext, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })], async (p, count) => {
    const enc = Buffer.from(await encrypt(p, KEY16));
    const real = enc.readBigUInt64LE(8);
    enc.writeBigUInt64LE(count, 8);
    try {
      const out = await run(enc, decryptStream(KEY16));
      // A real count, or 0 for an empty file (Trustflow's SDK writes that), is the only accepted one.
      if (!(count === real || (count === 0n && p.length === 0)) || !out.equals(p)) throw new Error(`accepted packet_count ${count} (real ${real})`);
    } catch (e) {
      expectTyped(e, DcpError);
    }
  }, { runs: 300 });
});

t.test('decryptFile never leaves partial output', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enc-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'in.enc');
  const dst = join(dir, 'out.bin');
  const previous = Buffer.from('the previous content of the destination');
  await checkProperty(t, 'decryptFile on mutated files', [plaintext, byteEdits(2), fc.boolean()], async (p, edits, dstExists) => {
    const enc = await encrypt(p, KEY32);
    const bad = applyEdits(enc, edits);
    writeFileSync(src, bad);
    rmSync(dst, { force: true });
    if (dstExists) writeFileSync(dst, previous);
    let ok = false;
    try {
      await decryptFile(src, dst, KEY32);
      ok = true;
    } catch (e) {
      expectTyped(e, DcpError);
    }
    const left = readdirSync(dir).filter((f) => f.includes(TEMP_MARKER));
    if (left.length) throw new Error(`temp files left behind: ${left.join(', ')}`);
    const now = (() => {
      try {
        return readFileSync(dst);
      } catch {
        return undefined;
      }
    })();
    if (ok) {
      if (!now?.equals(p)) throw new Error('decryptFile succeeded with other plaintext');
    } else if (dstExists ? !now?.equals(previous) : now !== undefined) {
      throw new Error('a failed decryptFile changed the destination');
    }
  }, { runs: 80 });
});

t.test('header edge cases stay typed errors (explicit cases)', async (t) => {
  // Explicit cases next to the properties: the largest counts and block lengths, a short header, a huge count with no blocks.
  t.throws(() => decodeEncHeader(Buffer.concat([encodeEncHeader(1).subarray(0, 8), Buffer.from('ffffffffffffffff', 'hex'), Buffer.from([0, 0x20, 0, 0])])), { code: 'ENC_BAD_HEADER' });
  t.throws(() => decodeEncHeader(encodeEncHeader(1, 0xffffffff)), { code: 'ENC_BAD_HEADER' });
  t.throws(() => decodeEncHeader(encodeEncHeader(1).subarray(0, 19)), { code: 'ENC_TRUNCATED' });
  await t.rejects(run(encodeEncHeader(Number.MAX_SAFE_INTEGER), decryptStream(KEY16)), { code: 'ENC_TRUNCATED' });
});
