// The native block opener for `.enc` (native/aenv-enc-block, a Node-API addon
// built by scripts/setup.sh into .tools/lib): opens a run of whole blocks in
// one call with one AES-GCM context, ~3x fewer CPU cycles per block than Node's
// crypto API (a decipher object per 8 KiB block). Optional: when it is not
// built, or AENV_ENC_NATIVE=0, enc-format.ts opens every block through
// node:crypto, byte for byte the same result (test/data-capsule-proxy/
// enc-native.test.ts cross-checks both and node:crypto on random and tampered
// input).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface EncNative {
  /**
   * Opens `count` whole blocks of `blockLen` bytes from src[srcOff..] into
   * dst[dstOff..]; the plaintext bytes written, or -(1 + i) when block i is
   * malformed or fails authentication (open it again for the exact error).
   */
  openBlocks(key: Buffer, src: Buffer, srcOff: number, blockLen: number, count: number, dst: Buffer, dstOff: number): number;
}

export const ENC_NATIVE_PATH = fileURLToPath(new URL('../../.tools/lib/aenv-enc-block.node', import.meta.url));

function load(): { native?: EncNative; status: string } {
  if (process.env.AENV_ENC_NATIVE === '0') return { status: 'node:crypto (AENV_ENC_NATIVE=0)' };
  if (!existsSync(ENC_NATIVE_PATH)) return { status: `node:crypto (${ENC_NATIVE_PATH} not built: npm run setup)` };
  try {
    const m = createRequire(import.meta.url)(ENC_NATIVE_PATH) as Partial<EncNative>;
    if (typeof m.openBlocks !== 'function') return { status: `node:crypto (${ENC_NATIVE_PATH} has no openBlocks)` };
    return { native: m as EncNative, status: 'native (aenv-enc-block)' };
  } catch (e) {
    return { status: `node:crypto (${ENC_NATIVE_PATH} did not load: ${(e as Error).message})` };
  }
}

const loaded = load();

/** The native opener, or undefined when blocks go through node:crypto. */
export const encNative: EncNative | undefined = loaded.native;

/** Which path opens `.enc` blocks, for logs and the bench. */
export const encNativeStatus: string = loaded.status;
