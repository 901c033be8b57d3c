// The native `.enc` block opener (native/aenv-enc-block, built by setup):
// it is built and used here (no silent fallback), it opens exactly what
// node:crypto opens (blocks made with createCipheriv, any block length, any
// chunking), it refuses exactly what node:crypto refuses with the same error
// code and message, and a bad call is an exception, never a read or write out
// of bounds.
import t from 'tap';
import fc from 'fast-check';
import { createCipheriv, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ENC_BLOCK_HEADER_LEN, decryptStream, encodeEncHeader } from '../../data-capsule-proxy/core/enc-format.ts';
import { encNative, encNativeStatus } from '../../data-capsule-proxy/core/enc-native.ts';

t.equal(encNativeStatus, 'native (aenv-enc-block)', 'the addon is built (scripts/setup.sh) and loaded');
const native = encNative!;

/** An `.enc` made with node:crypto alone: any block length, Trustflow's layout. */
function encOf(key: Buffer, plain: Buffer, blockLen: number): Buffer {
  const dataLen = blockLen - ENC_BLOCK_HEADER_LEN;
  const blocks: Buffer[] = [];
  for (let off = 0; off < plain.length; off += dataLen) {
    const iv = randomBytes(12);
    const c = createCipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, iv);
    const ct = Buffer.concat([c.update(plain.subarray(off, off + dataLen)), c.final()]);
    const head = Buffer.alloc(ENC_BLOCK_HEADER_LEN);
    head[0] = 12;
    iv.copy(head, 1);
    head[33] = 16;
    c.getAuthTag().copy(head, 34);
    blocks.push(head, ct);
  }
  return Buffer.concat([encodeEncHeader(Math.ceil(plain.length / dataLen), blockLen), ...blocks]);
}

async function open(key: Buffer, enc: Buffer, chunk: number, useNative: boolean): Promise<{ plain?: Buffer; error?: string }> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < enc.length; i += chunk) chunks.push(enc.subarray(i, i + chunk));
  const parts: Buffer[] = [];
  try {
    await pipeline(
      Readable.from(chunks),
      decryptStream(key, useNative ? {} : { native: null }),
      new Writable({
        write(b: Buffer, _e, cb) {
          parts.push(b);
          cb();
        },
      }),
    );
    return { plain: Buffer.concat(parts) };
  } catch (e) {
    return { error: `${(e as { code?: string }).code}: ${(e as Error).message}` };
  }
}

const cases = fc.record({
  keyLen: fc.constantFrom(16, 32),
  blockLen: fc.oneof(fc.constant(0x2000), fc.integer({ min: ENC_BLOCK_HEADER_LEN + 1, max: 3000 })),
  size: fc.integer({ min: 0, max: 40_000 }),
  chunk: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 301, max: 70_000 })),
});

t.test('native and node:crypto open the same bytes from an .enc made with node:crypto', async (t) => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(cases, async ({ keyLen, blockLen, size, chunk }) => {
      const key = randomBytes(keyLen);
      const plain = randomBytes(size);
      const enc = encOf(key, plain, blockLen);
      const [a, b] = [await open(key, enc, chunk, true), await open(key, enc, chunk, false)];
      if (a.error || b.error || !a.plain!.equals(plain) || !b.plain!.equals(plain)) throw new Error(`native ${a.error ?? 'ok'} / js ${b.error ?? 'ok'}`);
      runs++;
    }),
    { numRuns: 120 },
  );
  t.equal(runs, 120);
});

t.test('a tampered byte anywhere: both refuse it with the same code and message', async (t) => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(cases, fc.nat(), fc.integer({ min: 1, max: 255 }), async ({ keyLen, blockLen, size, chunk }, at, x) => {
      const key = randomBytes(keyLen);
      const enc = encOf(key, randomBytes(Math.max(1, size)), blockLen);
      const i = 20 + (at % (enc.length - 20)); // past the file header: block headers, IVs, tags, ciphertext
      enc[i]! ^= x;
      const [a, b] = [await open(key, enc, chunk, true), await open(key, enc, chunk, false)];
      // Only the zero padding of the IV and MAC fields is not authenticated (Trustflow's format).
      const pos = (i - 20) % blockLen;
      const padding = (pos >= 13 && pos < 33) || (pos >= 50 && pos < ENC_BLOCK_HEADER_LEN);
      if (a.error !== b.error) throw new Error(`native "${a.error}" != js "${b.error}"`);
      if (!padding && !a.error) throw new Error(`byte ${i} changed and the file still opened`);
      runs++;
    }),
    { numRuns: 150 },
  );
  t.equal(runs, 150);
});

t.test('openBlocks: bad calls throw, bounds are exact, a wrong key is refused', async (t) => {
  const key = randomBytes(16);
  const enc = encOf(key, randomBytes(8126 * 3), 0x2000);
  const dst = Buffer.alloc(8126 * 3);
  t.equal(native.openBlocks(key, enc, 20, 0x2000, 3, dst, 0), 8126 * 3);
  t.equal(native.openBlocks(randomBytes(16), enc, 20, 0x2000, 3, dst, 0), -1, 'wrong key: block 0 refused');
  const bad = Buffer.from(enc);
  bad[20 + 2 * 0x2000 + 100]! ^= 1;
  t.equal(native.openBlocks(key, bad, 20, 0x2000, 3, dst, 0), -3, 'block 2 refused');
  t.equal(native.openBlocks(key, enc, 20, 0x2000, 0, dst, 0), 0);
  t.throws(() => native.openBlocks(key, enc, 20, 0x2000, 4, dst, 0), RangeError, 'more blocks than src holds');
  t.throws(() => native.openBlocks(key, enc, 20, 0x2000, 3, dst, 1), RangeError, 'no room in dst');
  t.throws(() => native.openBlocks(key, enc, enc.length + 1, 0x2000, 0, dst, 0), RangeError);
  t.throws(() => native.openBlocks(randomBytes(15), enc, 20, 0x2000, 1, dst, 0), RangeError, '15-byte key');
  t.throws(() => native.openBlocks(key, enc, 20, 66, 1, dst, 0), RangeError, 'block_len 66');
  t.throws(() => native.openBlocks(key, enc, -1, 0x2000, 1, dst, 0), TypeError);
  t.throws(() => native.openBlocks(key, enc, 1.5, 0x2000, 1, dst, 0), TypeError);
  t.throws(() => (native.openBlocks as (...a: unknown[]) => number)(key, 'x', 20, 0x2000, 1, dst, 0), TypeError);
  t.throws(() => (native.openBlocks as (...a: unknown[]) => number)(key, enc, 20), TypeError);
  // random offsets and counts: a number or an exception, never a crash
  let calls = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: enc.length + 10 }), fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: dst.length + 10 }), (so, bl, n, dof) => {
      try {
        const r = native.openBlocks(key, enc, so, bl, n, dst, dof);
        if (typeof r !== 'number') throw new Error('not a number');
      } catch (e) {
        if (!(e instanceof RangeError || e instanceof TypeError)) throw e;
      }
      calls++;
    }),
    { numRuns: 2000 },
  );
  t.equal(calls, 2000);
});
