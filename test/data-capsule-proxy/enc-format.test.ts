import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { pythonBin } from '../../dev/toolchain.ts';
import {
  ENC_BLOCK_DATA_LEN,
  ENC_BLOCK_LEN,
  ENC_HEADER_LEN,
  decodeDataKeyB64,
  decodeEncHeader,
  decryptFile,
  decryptStream,
  encryptFile,
  encryptStream,
  encryptedSize,
} from '../../data-capsule-proxy/core/enc-format.ts';
import { DcpError } from '../../data-capsule-proxy/errors.ts';
import { TEMP_MARKER } from '../../data-capsule-proxy/storage/atomic-file.ts';

const PY = fileURLToPath(new URL('./enc_vector.py', import.meta.url));
const SIZES = [0, 1, ENC_BLOCK_DATA_LEN - 1, ENC_BLOCK_DATA_LEN, ENC_BLOCK_DATA_LEN + 1, 3 * ENC_BLOCK_DATA_LEN, 100_003];

function py(op: 'encrypt' | 'decrypt', key: Buffer, src: string, dst: string): void {
  execFileSync(pythonBin(), [PY, op, key.toString('base64'), src, dst], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'dcp-enc-'));
}

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.includes(TEMP_MARKER));
}

async function collect(src: Buffer, transform: NodeJS.ReadWriteStream, chunk = 65536): Promise<Buffer> {
  const parts: Buffer[] = [];
  const chunks: Buffer[] = [];
  for (let i = 0; i < src.length; i += chunk) chunks.push(src.subarray(i, i + chunk));
  await pipeline(
    Readable.from(chunks),
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

for (const keyLen of [16, 32]) {
  t.test(`independent Python implementation -> TypeScript decrypt (AES-${keyLen * 8}-GCM)`, async (t) => {
    const dir = tmp();
    const key = randomBytes(keyLen);
    for (const size of SIZES) {
      const plain = randomBytes(size);
      writeFileSync(join(dir, 'p'), plain);
      py('encrypt', key, join(dir, 'p'), join(dir, 'p.enc'));
      const res = await decryptFile(join(dir, 'p.enc'), join(dir, 'out'), key);
      t.equal(sha(readFileSync(join(dir, 'out'))), sha(plain), `size ${size}: plaintext matches`);
      t.equal(res.bytesOut, size, `size ${size}: byte count`);
    }
    t.same(leftovers(dir), [], 'no temp files left');
  });

  t.test(`TypeScript encrypt -> independent Python decrypt (AES-${keyLen * 8}-GCM)`, async (t) => {
    const dir = tmp();
    const key = randomBytes(keyLen);
    for (const size of SIZES) {
      const plain = randomBytes(size);
      writeFileSync(join(dir, 'p'), plain);
      const r = await encryptFile(join(dir, 'p'), join(dir, 'p.enc'), key);
      const enc = readFileSync(join(dir, 'p.enc'));
      t.equal(enc.length, encryptedSize(size), `size ${size}: file size = encryptedSize()`);
      const h = decodeEncHeader(enc);
      t.same(h, { version: 1, schema: 1, packetCount: r.packetCount, blockLen: ENC_BLOCK_LEN }, `size ${size}: header`);
      t.equal(enc[ENC_HEADER_LEN], 12, 'iv_len byte');
      t.equal(enc[ENC_HEADER_LEN + 33], 16, 'mac_len byte');
      t.ok(enc.subarray(ENC_HEADER_LEN + 13, ENC_HEADER_LEN + 33).equals(Buffer.alloc(20)), 'IV field zero padded');
      py('decrypt', key, join(dir, 'p.enc'), join(dir, 'py-out'));
      t.equal(sha(readFileSync(join(dir, 'py-out'))), sha(plain), `size ${size}: Python recovers the plaintext`);
    }
    t.equal(statSync(join(dir, 'p.enc')).mode & 0o777, 0o600, 'output file is 0600');
  });
}

t.test('a fixed vector: header bytes and block layout', async (t) => {
  const key = Buffer.alloc(16, 7);
  const enc = await collect(Buffer.from('hello'), encryptStream(key, { plaintextLength: 5 }));
  t.equal(enc.subarray(0, 20).toString('hex'), '01000000' + '01000000' + '0100000000000000' + '00200000', 'LE header: v1, schema 1, 1 packet, 0x2000');
  t.equal(enc.length, 20 + 66 + 5, 'one short block');
  const back = await collect(enc, decryptStream(key));
  t.equal(back.toString(), 'hello');
});

t.test('every block gets its own random IV', async (t) => {
  const key = randomBytes(16);
  const n = 1200; // more blocks than one IV pool refill
  const enc = await collect(Buffer.alloc(n * ENC_BLOCK_DATA_LEN), encryptStream(key, { plaintextLength: n * ENC_BLOCK_DATA_LEN }));
  const ivs = new Set<string>();
  for (let i = 0; i < n; i++) ivs.add(enc.subarray(ENC_HEADER_LEN + i * ENC_BLOCK_LEN + 1, ENC_HEADER_LEN + i * ENC_BLOCK_LEN + 13).toString('hex'));
  t.equal(ivs.size, n, 'no IV repeats');
});

t.test('streaming is independent of chunk boundaries', async (t) => {
  const key = randomBytes(32);
  const plain = randomBytes(3 * ENC_BLOCK_DATA_LEN + 517);
  for (const chunk of [1, 7, 66, 8125, 8192, 8193, 1 << 20]) {
    const enc = await collect(plain, encryptStream(key, { plaintextLength: plain.length }), chunk);
    const back = await collect(enc, decryptStream(key), chunk);
    t.equal(sha(back), sha(plain), `chunk ${chunk}`);
  }
});

t.test('encryptStream without a length: placeholder header, real header after finish', async (t) => {
  const key = randomBytes(16);
  const plain = randomBytes(2 * ENC_BLOCK_DATA_LEN + 3);
  const e = encryptStream(key);
  const enc = await collect(plain, e);
  t.equal(decodeEncHeader(enc).packetCount, 0, 'placeholder count');
  await t.rejects(collect(enc, decryptStream(key)), { code: 'ENC_TRAILING_DATA' }, 'an unpatched file is rejected');
  e.header().copy(enc, 0);
  t.equal(sha(await collect(enc, decryptStream(key))), sha(plain), 'patched file decrypts');
});

t.test('encryptStream checks the announced length', async (t) => {
  const key = randomBytes(16);
  await t.rejects(collect(randomBytes(10), encryptStream(key, { plaintextLength: 11 })), { code: 'ENC_LENGTH_MISMATCH' });
  await t.rejects(collect(randomBytes(12), encryptStream(key, { plaintextLength: 11 })), { code: 'ENC_LENGTH_MISMATCH' });
});

t.test('bad keys are clear errors', async (t) => {
  t.throws(() => encryptStream(randomBytes(24)), { code: 'ENC_BAD_KEY' });
  t.throws(() => decryptStream(Buffer.alloc(0)), { code: 'ENC_BAD_KEY' });
  t.throws(() => decodeDataKeyB64('not base64!'), { code: 'ENC_BAD_KEY' });
  t.throws(() => decodeDataKeyB64(Buffer.alloc(16).toString('base64url').replace(/=+$/, '')), { code: 'ENC_BAD_KEY' }, 'padding required');
  t.equal(decodeDataKeyB64(Buffer.alloc(32, 1).toString('base64')).length, 32);
});

t.test('tampered, truncated and malformed files fail and leave no plaintext', async (t) => {
  const dir = tmp();
  const key = randomBytes(16);
  const plain = randomBytes(4 * ENC_BLOCK_DATA_LEN + 100);
  writeFileSync(join(dir, 'p'), plain);
  await encryptFile(join(dir, 'p'), join(dir, 'good.enc'), key);
  const good = readFileSync(join(dir, 'good.enc'));
  const lastBlock = ENC_HEADER_LEN + 4 * ENC_BLOCK_LEN;

  const flip = (at: number): Buffer => {
    const b = Buffer.from(good);
    b[at] ^= 0x01;
    return b;
  };
  const cases: Array<[string, Buffer, string]> = [
    ['ciphertext byte flipped in block 0', flip(ENC_HEADER_LEN + 66 + 10), 'ENC_AUTH_FAILED'],
    ['ciphertext byte flipped in the last block', flip(good.length - 1), 'ENC_AUTH_FAILED'],
    ['tag byte flipped', flip(ENC_HEADER_LEN + ENC_BLOCK_LEN + 34), 'ENC_AUTH_FAILED'],
    ['IV byte flipped', flip(ENC_HEADER_LEN + 2 * ENC_BLOCK_LEN + 1), 'ENC_AUTH_FAILED'],
    ['iv_len changed', flip(ENC_HEADER_LEN), 'ENC_BAD_BLOCK'],
    ['truncated inside the last block', good.subarray(0, good.length - 7), 'ENC_AUTH_FAILED'],
    ['truncated at a block boundary', good.subarray(0, lastBlock), 'ENC_TRUNCATED'],
    ['truncated to a block header', good.subarray(0, lastBlock + 40), 'ENC_TRUNCATED'],
    ['truncated inside the header', good.subarray(0, 11), 'ENC_TRUNCATED'],
    ['empty file', Buffer.alloc(0), 'ENC_TRUNCATED'],
    // One extra byte lands inside the (short) last block and breaks its tag; a block's worth overflows it.
    ['one byte appended', Buffer.concat([good, Buffer.from('x')]), 'ENC_AUTH_FAILED'],
    ['a block appended', Buffer.concat([good, good.subarray(ENC_HEADER_LEN, ENC_HEADER_LEN + ENC_BLOCK_LEN)]), 'ENC_TRAILING_DATA'],
    ['packet_count too high', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(6n, 8); return b; })(), 'ENC_TRUNCATED'],
    ['packet_count too low', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(4n, 8); return b; })(), 'ENC_TRAILING_DATA'],
    ['version 2', (() => { const b = Buffer.from(good); b.writeUInt32LE(2, 0); return b; })(), 'ENC_BAD_HEADER'],
    ['block_len 0', (() => { const b = Buffer.from(good); b.writeUInt32LE(0, 16); return b; })(), 'ENC_BAD_HEADER'],
  ];
  // A destination that already exists must survive a failed decrypt unchanged.
  writeFileSync(join(dir, 'existing'), 'previous result');
  for (const [name, bytes, code] of cases) {
    writeFileSync(join(dir, 'bad.enc'), bytes);
    await t.rejects(decryptFile(join(dir, 'bad.enc'), join(dir, 'out'), key), { code }, `${name}: ${code}`);
    t.notOk(existsSync(join(dir, 'out')), `${name}: no plaintext at the destination`);
    await t.rejects(decryptFile(join(dir, 'bad.enc'), join(dir, 'existing'), key), { code });
    t.equal(readFileSync(join(dir, 'existing'), 'utf8'), 'previous result', `${name}: existing destination untouched`);
    t.same(leftovers(dir), [], `${name}: temp file removed`);
  }
  await t.rejects(decryptFile(join(dir, 'good.enc'), join(dir, 'out'), randomBytes(16)), { code: 'ENC_AUTH_FAILED' }, 'wrong key');
  t.notOk(existsSync(join(dir, 'out')));
  await t.rejects(decryptFile(join(dir, 'good.enc'), join(dir, 'good.enc'), key), { code: 'SAME_PATH' });
  await t.rejects(decryptFile(join(dir, 'missing.enc'), join(dir, 'out'), key), { code: 'SOURCE_NOT_FOUND' });
  t.ok(DcpError.is(await decryptFile(join(dir, 'bad.enc'), join(dir, 'out'), key).catch((e: unknown) => e)), 'errors are DcpError');
  t.same(leftovers(dir), []);
  // And the intact file still decrypts.
  await decryptFile(join(dir, 'good.enc'), join(dir, 'out'), key);
  t.equal(sha(readFileSync(join(dir, 'out'))), sha(plain));
});
