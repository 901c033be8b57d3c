// The `.enc` file format of Trustflow's data capsule proxy and capsule manager SDK,
// byte for byte (see docs/offline.md and docs trustflow-compat.md):
//
//   header (20 bytes, little endian)
//     version u32 = 1 | schema u32 = 1 | packet_count u64 | block_len u32 = 0x2000
//   packet_count blocks, each
//     iv_len u8 (12) | IV in a 32-byte field (zero padded)
//     mac_len u8 (16) | MAC in a 32-byte field (zero padded) | ciphertext
//   Every block but the last carries block_len - 66 = 8126 plaintext bytes; the last
//   carries the rest. AES-128-GCM or AES-256-GCM by key length, a fresh random IV per
//   block, no AAD.
//
// The format authenticates each block on its own (no AAD, no index), so reordering
// whole blocks is invisible to any reader of this format; truncation and appended
// bytes are caught by the packet count in the header, which we check strictly.
//
// Both directions are Transform streams with a fixed-size carry buffer, so memory
// stays flat whatever the input size. The file functions write to a temp file
// next to the destination and rename it only after the whole input verified.
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomically } from '../storage/atomic-file.ts';
import { DcpError } from '../errors.ts';
import { encNative, type EncNative } from './enc-native.ts';

export const ENC_VERSION = 1;
export const ENC_SCHEMA = 1;
export const ENC_HEADER_LEN = 20;
/** Trustflow writes 0x2000-byte blocks; a reader honours the header's block_len. */
export const ENC_BLOCK_LEN = 0x2000;
export const ENC_IV_LEN = 12;
export const ENC_MAC_LEN = 16;
const IV_FIELD = 32;
const MAC_FIELD = 32;
/** iv_len u8 + IV field + mac_len u8 + MAC field. */
export const ENC_BLOCK_HEADER_LEN = 1 + IV_FIELD + 1 + MAC_FIELD;
/** Plaintext bytes per full block (8126 with the default block length). */
export const ENC_BLOCK_DATA_LEN = ENC_BLOCK_LEN - ENC_BLOCK_HEADER_LEN;
/** Largest block_len we accept from a header: bounds the reader's memory. */
export const ENC_MAX_BLOCK_LEN = 16 * 1024 * 1024;

export interface EncHeader {
  version: number;
  schema: number;
  packetCount: number;
  blockLen: number;
}

function cipherName(key: Buffer): 'aes-128-gcm' | 'aes-256-gcm' {
  if (!Buffer.isBuffer(key)) throw new DcpError('ENC_BAD_KEY', 'data key must be a Buffer');
  if (key.length === 16) return 'aes-128-gcm';
  if (key.length === 32) return 'aes-256-gcm';
  throw new DcpError('ENC_BAD_KEY', `data key must be 16 bytes (AES-128-GCM) or 32 bytes (AES-256-GCM), got ${key.length}`);
}

/** Decodes a standard base64 (with padding) data key, as Trustflow's APIs carry them. */
export function decodeDataKeyB64(b64: string): Buffer {
  if (typeof b64 !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b64) || b64.length === 0) {
    throw new DcpError('ENC_BAD_KEY', 'data_key_b64 is not standard base64 with padding');
  }
  const key = Buffer.from(b64, 'base64');
  cipherName(key);
  return key;
}

/** Number of blocks for a plaintext length: empty plaintext still gets one (empty) block. */
export function packetCountFor(plaintextLength: number, blockLen = ENC_BLOCK_LEN): number {
  const per = blockLen - ENC_BLOCK_HEADER_LEN;
  return Math.max(1, Math.ceil(plaintextLength / per));
}

/** Size of the `.enc` file for a plaintext length (e.g. for an S3 ContentLength). */
export function encryptedSize(plaintextLength: number, blockLen = ENC_BLOCK_LEN): number {
  return ENC_HEADER_LEN + packetCountFor(plaintextLength, blockLen) * ENC_BLOCK_HEADER_LEN + plaintextLength;
}

export function encodeEncHeader(packetCount: number, blockLen = ENC_BLOCK_LEN): Buffer {
  const h = Buffer.alloc(ENC_HEADER_LEN);
  h.writeUInt32LE(ENC_VERSION, 0);
  h.writeUInt32LE(ENC_SCHEMA, 4);
  h.writeBigUInt64LE(BigInt(packetCount), 8);
  h.writeUInt32LE(blockLen, 16);
  return h;
}

export function decodeEncHeader(buf: Buffer): EncHeader {
  if (buf.length < ENC_HEADER_LEN) throw new DcpError('ENC_TRUNCATED', `.enc header needs ${ENC_HEADER_LEN} bytes, got ${buf.length}`);
  const version = buf.readUInt32LE(0);
  const schema = buf.readUInt32LE(4);
  const count = buf.readBigUInt64LE(8);
  const blockLen = buf.readUInt32LE(16);
  if (version !== ENC_VERSION) throw new DcpError('ENC_BAD_HEADER', `.enc version ${version} is not supported (expected ${ENC_VERSION})`);
  if (schema !== ENC_SCHEMA) throw new DcpError('ENC_BAD_HEADER', `.enc schema ${schema} is not supported (expected ${ENC_SCHEMA})`);
  if (blockLen <= ENC_BLOCK_HEADER_LEN || blockLen > ENC_MAX_BLOCK_LEN) {
    throw new DcpError('ENC_BAD_HEADER', `.enc block_len ${blockLen} is out of range (${ENC_BLOCK_HEADER_LEN + 1}..${ENC_MAX_BLOCK_LEN})`);
  }
  if (count > BigInt(Number.MAX_SAFE_INTEGER)) throw new DcpError('ENC_BAD_HEADER', `.enc packet_count ${count} is implausible`);
  return { version, schema, packetCount: Number(count), blockLen };
}

export interface EncryptStreamOptions {
  /**
   * The plaintext length, so the header can carry the packet count up front.
   * With it the stream checks the input has exactly this length. Without it the
   * stream emits a header with packet_count 0 and `header()` returns the real
   * header after the stream finished: the caller must write that at offset 0
   * (only possible for seekable sinks; encryptFile always passes the length).
   */
  plaintextLength?: number;
}

/** A Transform from plaintext to `.enc` bytes. */
export class EncryptTransform extends Transform {
  readonly #key: Buffer;
  readonly #alg: 'aes-128-gcm' | 'aes-256-gcm';
  readonly #expected: number | undefined;
  readonly #carry = Buffer.allocUnsafe(ENC_BLOCK_DATA_LEN);
  #carryLen = 0;
  #total = 0;
  #blocks = 0;
  #finished = false;
  /** Fresh random IVs drawn 512 at a time: one CSPRNG call per 4 MiB instead of per block. */
  readonly #ivPool = Buffer.allocUnsafe(ENC_IV_LEN * 512);
  #ivOff = this.#ivPool.length;

  constructor(key: Buffer, opts: EncryptStreamOptions = {}) {
    super();
    this.#alg = cipherName(key);
    this.#key = Buffer.from(key);
    if (opts.plaintextLength !== undefined && (!Number.isSafeInteger(opts.plaintextLength) || opts.plaintextLength < 0)) {
      throw new DcpError('ENC_LENGTH_MISMATCH', 'plaintextLength must be a non-negative integer');
    }
    this.#expected = opts.plaintextLength;
    this.push(encodeEncHeader(this.#expected === undefined ? 0 : packetCountFor(this.#expected)));
  }

  /** The final header (correct packet count); valid once the stream has finished. */
  header(): Buffer {
    if (!this.#finished) throw new Error('EncryptTransform.header() is only valid after the stream finished');
    return encodeEncHeader(this.#blocks);
  }

  #sealBlock(plain: Buffer, out: Buffer[]): void {
    if (this.#ivOff === this.#ivPool.length) {
      randomFillSync(this.#ivPool);
      this.#ivOff = 0;
    }
    const iv = this.#ivPool.subarray(this.#ivOff, this.#ivOff + ENC_IV_LEN);
    this.#ivOff += ENC_IV_LEN;
    const c = createCipheriv(this.#alg, this.#key, iv, { authTagLength: ENC_MAC_LEN });
    const ct = plain.length ? c.update(plain) : Buffer.alloc(0);
    const tail = c.final();
    const tag = c.getAuthTag();
    const hdr = Buffer.alloc(ENC_BLOCK_HEADER_LEN);
    hdr[0] = ENC_IV_LEN;
    iv.copy(hdr, 1);
    hdr[1 + IV_FIELD] = ENC_MAC_LEN;
    tag.copy(hdr, 2 + IV_FIELD);
    out.push(hdr, ct);
    if (tail.length) out.push(tail);
    this.#blocks++;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      if (!Buffer.isBuffer(chunk)) chunk = Buffer.from(chunk);
      this.#total += chunk.length;
      if (this.#expected !== undefined && this.#total > this.#expected) {
        throw new DcpError('ENC_LENGTH_MISMATCH', `plaintext is longer than the announced ${this.#expected} bytes`);
      }
      const out: Buffer[] = [];
      let off = 0;
      if (this.#carryLen > 0) {
        const n = Math.min(ENC_BLOCK_DATA_LEN - this.#carryLen, chunk.length);
        chunk.copy(this.#carry, this.#carryLen, 0, n);
        this.#carryLen += n;
        off = n;
        if (this.#carryLen === ENC_BLOCK_DATA_LEN) {
          this.#sealBlock(this.#carry, out);
          this.#carryLen = 0;
        }
      }
      while (chunk.length - off >= ENC_BLOCK_DATA_LEN) {
        this.#sealBlock(chunk.subarray(off, off + ENC_BLOCK_DATA_LEN), out);
        off += ENC_BLOCK_DATA_LEN;
      }
      if (off < chunk.length) {
        chunk.copy(this.#carry, this.#carryLen, off);
        this.#carryLen += chunk.length - off;
      }
      if (out.length) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (this.#expected !== undefined && this.#total !== this.#expected) {
        throw new DcpError('ENC_LENGTH_MISMATCH', `plaintext has ${this.#total} bytes, ${this.#expected} were announced`);
      }
      const out: Buffer[] = [];
      if (this.#carryLen > 0 || this.#blocks === 0) this.#sealBlock(this.#carry.subarray(0, this.#carryLen), out);
      this.#carryLen = 0;
      this.#finished = true;
      if (out.length) this.push(Buffer.concat(out));
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}

/** Output slab of the native path (see DecryptTransform#output). */
const SLAB_BYTES = 4 * 1024 * 1024;

/**
 * A Transform from `.enc` bytes to plaintext. Each block is authenticated before its
 * plaintext is pushed; the stream errors on a bad tag, a short or long input, or a
 * malformed header. A consumer must treat the output as tentative until the stream
 * ended without error (decryptFile does: temp file, rename on success).
 */
export class DecryptTransform extends Transform {
  readonly #key: Buffer;
  readonly #alg: 'aes-128-gcm' | 'aes-256-gcm';
  #header: EncHeader | undefined;
  readonly #headerBuf = Buffer.alloc(ENC_HEADER_LEN);
  #headerLen = 0;
  #carry: Buffer = Buffer.alloc(0);
  #carryLen = 0;
  #blocks = 0;

  readonly #native: EncNative | undefined;

  /** `native: null` opens every block through node:crypto (tests cross-check the two). */
  constructor(key: Buffer, opts: { native?: EncNative | null } = {}) {
    super();
    this.#alg = cipherName(key);
    this.#key = Buffer.from(key);
    this.#native = opts.native === null ? undefined : (opts.native ?? encNative);
  }

  #openBlock(block: Buffer, out: Buffer[]): void {
    const index = this.#blocks;
    if (block.length < ENC_BLOCK_HEADER_LEN) throw new DcpError('ENC_TRUNCATED', `.enc block ${index} is truncated (${block.length} bytes)`);
    const ivLen = block[0];
    const macLen = block[1 + IV_FIELD];
    if (ivLen !== ENC_IV_LEN) throw new DcpError('ENC_BAD_BLOCK', `.enc block ${index}: iv_len ${ivLen}, expected ${ENC_IV_LEN}`);
    if (macLen !== ENC_MAC_LEN) throw new DcpError('ENC_BAD_BLOCK', `.enc block ${index}: mac_len ${macLen}, expected ${ENC_MAC_LEN}`);
    const iv = block.subarray(1, 1 + ENC_IV_LEN);
    const tag = block.subarray(2 + IV_FIELD, 2 + IV_FIELD + ENC_MAC_LEN);
    const d = createDecipheriv(this.#alg, this.#key, iv, { authTagLength: ENC_MAC_LEN });
    d.setAuthTag(tag);
    const plain = d.update(block.subarray(ENC_BLOCK_HEADER_LEN));
    try {
      d.final();
    } catch (cause) {
      throw new DcpError('ENC_AUTH_FAILED', `.enc block ${index} failed authentication (wrong key or tampered data)`, { cause });
    }
    if (plain.length) out.push(plain);
    this.#blocks++;
  }

  /**
   * The native path of _transform from `off` (after the header): the carried
   * block once `chunk` completes it, then every whole block of `chunk` but the
   * file's last, in one output buffer (one allocation, one push, no concat). A
   * block the opener refuses is opened again by #openBlock, which throws the
   * exact error; nothing of the chunk is pushed then. Returns the offset of
   * the bytes left for the carry.
   */
  #openNative(chunk: Buffer, off: number, out: Buffer[]): number {
    const native = this.#native!;
    const { blockLen, packetCount } = this.#header!;
    const dataLen = blockLen - ENC_BLOCK_HEADER_LEN;
    let carried = false;
    if (this.#carryLen > 0) {
      off = this.#fillCarry(chunk, off);
      if (this.#carryLen < blockLen || this.#isLast()) return off;
      carried = true;
    }
    const opened = this.#blocks + (carried ? 1 : 0);
    const count = Math.max(0, Math.min(Math.floor((chunk.length - off) / blockLen), packetCount - 1 - opened));
    if (!carried && count === 0) return off;
    const dst = this.#output(((carried ? 1 : 0) + count) * dataLen);
    if (carried) {
      if (native.openBlocks(this.#key, this.#carry, 0, blockLen, 1, dst, 0) < 0) this.#refused(this.#carry);
      this.#blocks++;
      this.#carryLen = 0;
    }
    if (count > 0) {
      const n = native.openBlocks(this.#key, chunk, off, blockLen, count, dst, carried ? dataLen : 0);
      if (n < 0) {
        this.#blocks += -n - 1;
        this.#refused(chunk.subarray(off + (-n - 1) * blockLen, off + -n * blockLen));
      }
      this.#blocks += count;
    }
    out.push(dst);
    return off + count * blockLen;
  }

  /**
   * Output space: views into a 4 MiB slab, so a stream of 64 KiB chunks makes
   * one allocation per 4 MiB instead of one per chunk (allocations of external
   * memory are what drove the GC here: it cost more than the decryption). A
   * slab lives while any view of it does.
   */
  #slab: Buffer = Buffer.alloc(0);
  #slabUsed = 0;
  #output(n: number): Buffer {
    if (n > SLAB_BYTES / 2) return Buffer.allocUnsafe(n);
    if (this.#slab.length - this.#slabUsed < n) {
      this.#slab = Buffer.allocUnsafe(SLAB_BYTES);
      this.#slabUsed = 0;
    }
    const b = this.#slab.subarray(this.#slabUsed, this.#slabUsed + n);
    this.#slabUsed += n;
    return b;
  }

  /** A block the native opener refused: node:crypto opens it for the exact error. */
  #refused(block: Buffer): never {
    this.#openBlock(block, []);
    throw new DcpError('ENC_AUTH_FAILED', `.enc block ${this.#blocks - 1} failed authentication (wrong key or tampered data)`);
  }

  /** Tops the carried partial block up from chunk[off..]; the offset after what it took. */
  #fillCarry(chunk: Buffer, off: number): number {
    const n = Math.min(this.#header!.blockLen - this.#carryLen, chunk.length - off);
    chunk.copy(this.#carry, this.#carryLen, off, off + n);
    this.#carryLen += n;
    return off + n;
  }

  /** Blocks before the last must be exactly block_len; the last is whatever remains. */
  #isLast(): boolean {
    return this.#blocks >= this.#header!.packetCount - 1;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      if (!Buffer.isBuffer(chunk)) chunk = Buffer.from(chunk);
      let off = 0;
      if (!this.#header) {
        const n = Math.min(ENC_HEADER_LEN - this.#headerLen, chunk.length);
        chunk.copy(this.#headerBuf, this.#headerLen, 0, n);
        this.#headerLen += n;
        off = n;
        if (this.#headerLen < ENC_HEADER_LEN) return cb();
        this.#header = decodeEncHeader(this.#headerBuf);
        this.#carry = Buffer.allocUnsafe(this.#header.blockLen);
      }
      const blockLen = this.#header.blockLen;
      const out: Buffer[] = [];
      if (this.#native) off = this.#openNative(chunk, off, out);
      else if (this.#carryLen > 0) {
        off = this.#fillCarry(chunk, off);
        if (this.#carryLen === blockLen && !this.#isLast()) {
          this.#openBlock(this.#carry, out);
          this.#carryLen = 0;
        }
      }
      while (chunk.length - off >= blockLen && this.#carryLen === 0 && !this.#isLast()) {
        this.#openBlock(chunk.subarray(off, off + blockLen), out);
        off += blockLen;
      }
      if (off < chunk.length) {
        const rest = chunk.length - off;
        if (this.#carryLen + rest > blockLen) {
          throw new DcpError('ENC_TRAILING_DATA', `.enc has bytes after its last block (packet_count ${this.#header.packetCount})`);
        }
        chunk.copy(this.#carry, this.#carryLen, off);
        this.#carryLen += rest;
      }
      if (out.length) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (!this.#header) throw new DcpError('ENC_TRUNCATED', `.enc header needs ${ENC_HEADER_LEN} bytes, got ${this.#headerLen}`);
      const { packetCount } = this.#header;
      const out: Buffer[] = [];
      if (packetCount === 0) {
        // Trustflow's Python SDK writes packet_count 0 followed by one empty block for
        // an empty file; accept that (and a bare header) as the empty plaintext.
        if (this.#carryLen > 0) {
          this.#openBlock(this.#carry.subarray(0, this.#carryLen), out);
          if (out.length) throw new DcpError('ENC_TRAILING_DATA', '.enc announces 0 packets but carries data');
        }
      } else {
        if (this.#blocks < packetCount - 1 || this.#carryLen === 0) {
          throw new DcpError('ENC_TRUNCATED', `.enc is truncated: ${this.#blocks + (this.#carryLen ? 1 : 0)} of ${packetCount} blocks present`);
        }
        this.#openBlock(this.#carry.subarray(0, this.#carryLen), out);
      }
      this.#carryLen = 0;
      if (out.length) this.push(Buffer.concat(out));
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}

/** Plaintext -> `.enc` Transform (see EncryptStreamOptions for the header's packet count). */
export function encryptStream(key: Buffer, opts: EncryptStreamOptions = {}): EncryptTransform {
  return new EncryptTransform(key, opts);
}

/** `.enc` -> plaintext Transform. */
export function decryptStream(key: Buffer, opts: { native?: EncNative | null } = {}): DecryptTransform {
  return new DecryptTransform(key, opts);
}

function assertDistinct(src: string, dst: string): void {
  if (resolve(src) === resolve(dst)) throw new DcpError('SAME_PATH', 'source and destination are the same file');
}

async function sourceSize(src: string): Promise<number> {
  try {
    const s = await stat(src);
    if (!s.isFile()) throw new DcpError('SOURCE_NOT_FOUND', `${src} is not a regular file`);
    return s.size;
  } catch (e) {
    if (DcpError.is(e)) throw e;
    throw new DcpError('SOURCE_NOT_FOUND', `cannot read ${src}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
}

/** File reads in 1 MiB chunks (the default 64 KiB costs a read and a stream turn per 8 blocks). */
const READ_CHUNK = 1024 * 1024;

/** Encrypts a file into `.enc` form at dst, atomically (temp file + fsync + rename). */
export async function encryptFile(src: string, dst: string, key: Buffer): Promise<{ bytesIn: number; packetCount: number }> {
  assertDistinct(src, dst);
  cipherName(key);
  const size = await sourceSize(src);
  await writeFileAtomically(dst, (sink) => pipeline(createReadStream(src, { highWaterMark: READ_CHUNK }), encryptStream(key, { plaintextLength: size }), sink));
  return { bytesIn: size, packetCount: packetCountFor(size) };
}

/**
 * Decrypts a `.enc` file to dst. The plaintext goes to a temp file (0600) that is
 * renamed over dst only after the last block verified and the packet count matched;
 * on any failure dst is left as it was and the temp file is removed.
 */
export async function decryptFile(src: string, dst: string, key: Buffer): Promise<{ bytesOut: number }> {
  assertDistinct(src, dst);
  cipherName(key);
  await sourceSize(src);
  const bytesOut = await writeFileAtomically(dst, (sink) => pipeline(createReadStream(src, { highWaterMark: READ_CHUNK }), decryptStream(key), sink));
  return { bytesOut };
}
