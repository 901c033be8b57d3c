// A minimal TPM 2.0 responder for attester tests: answers Quote, PCR_Read and
// ReadPublic with real RSA signatures over a real TPMS_ATTEST (no swtpm here).
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { tpm2b, u16, u32, type TpmTransport } from '../../platforms/plugins/tpm/commands.ts';

export interface FakeTpm extends TpmTransport {
  akPublic: KeyObject;
  pcrs: Map<number, Buffer>;
  commands: number[];
}

const resp = (tag: number, body: Buffer) => Buffer.concat([u16(tag), u32(10 + body.length), u32(0), body]);

export function createFakeTpm(akHandle = 0x81010002): FakeTpm {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pcrs = new Map<number, Buffer>();
  for (let i = 0; i < 24; i++) pcrs.set(i, createHash('sha256').update(`pcr${i}`).digest());
  const commands: number[] = [];
  function selection(b: Buffer, off: number): { pcrs: number[]; end: number; raw: Buffer } {
    const count = b.readUInt32BE(off);
    let p = off + 4;
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const size = b[p + 2]!;
      const bits = b.subarray(p + 3, p + 3 + size);
      for (let k = 0; k < size * 8; k++) if (bits[k >> 3]! & (1 << (k & 7))) out.push(k);
      p += 3 + size;
    }
    return { pcrs: out, end: p, raw: b.subarray(off, p) };
  }
  return {
    akPublic: publicKey,
    pcrs,
    commands,
    async transmit(cmd) {
      const cc = cmd.readUInt32BE(6);
      commands.push(cc);
      if (cc === 0x158) {
        if (cmd.readUInt32BE(10) !== akHandle) return Buffer.concat([u16(0x8001), u32(10), u32(0x18b)]);
        const authSize = cmd.readUInt32BE(14);
        let p = 18 + authSize;
        const qd = cmd.subarray(p + 2, p + 2 + cmd.readUInt16BE(p));
        p += 2 + qd.length + 2; // + inScheme NULL
        const sel = selection(cmd, p);
        const digest = createHash('sha256');
        for (const i of sel.pcrs) digest.update(pcrs.get(i)!);
        const attest = Buffer.concat([
          u32(0xff544347), u16(0x8018), tpm2b(Buffer.from('000bfeedface', 'hex')), tpm2b(qd),
          Buffer.alloc(8, 1), u32(2), u32(0), Buffer.from([1]), Buffer.alloc(8, 2), sel.raw, tpm2b(digest.digest()),
        ]);
        const sig = sign('sha256', attest, privateKey);
        const params = Buffer.concat([tpm2b(attest), u16(0x0014), u16(0x000b), tpm2b(sig)]);
        return resp(0x8002, Buffer.concat([u32(params.length), params, u16(0), Buffer.from([1]), u16(0)]));
      }
      if (cc === 0x17e) {
        const sel = selection(cmd, 10);
        const first = sel.pcrs.slice(0, 8); // like a real TPM: at most 8 digests per call
        const bits = Buffer.alloc(3);
        for (const i of first) bits[i >> 3]! |= 1 << (i & 7);
        return resp(0x8001, Buffer.concat([u32(7), u32(1), u16(0x000b), Buffer.from([3]), bits, u32(first.length), ...first.map((i) => tpm2b(pcrs.get(i)!))]));
      }
      if (cc === 0x173) {
        const jwk = publicKey.export({ format: 'jwk' }) as { n: string };
        const tpmt = Buffer.concat([u16(0x0001), u16(0x000b), u32(0x00050072), tpm2b(Buffer.alloc(0)), u16(0x0010), u16(0x0014), u16(0x000b), u16(2048), u32(0), tpm2b(Buffer.from(jwk.n, 'base64url'))]);
        return resp(0x8001, Buffer.concat([tpm2b(tpmt), tpm2b(Buffer.alloc(34)), tpm2b(Buffer.alloc(34))]));
      }
      return Buffer.concat([u16(0x8001), u32(10), u32(0x143)]);
    },
  };
}
