// The SNP certificate table (configfs auxblob / SNP_GET_EXT_REPORT): 24-byte
// entries {GUID, u32 offset, u32 length} ending with an all-zero entry; offsets
// are from the table start.
import { PlatformError } from '../../errors.ts';

export const SNP_CERT_GUIDS = {
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
} as const;

/** GUID text -> its 16 bytes (first three fields little-endian). */
export function guidBytes(g: string): Buffer {
  const h = g.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}

export function parseCertTable(table: Buffer): Partial<Record<keyof typeof SNP_CERT_GUIDS, Buffer>> {
  const out: Partial<Record<keyof typeof SNP_CERT_GUIDS, Buffer>> = {};
  const known = Object.entries(SNP_CERT_GUIDS).map(([k, g]) => [k, guidBytes(g)] as const);
  for (let off = 0; ; off += 24) {
    if (off + 24 > table.length) throw new PlatformError('EVIDENCE_MALFORMED', 'SEV-SNP cert table is not terminated by a zero entry');
    const guid = table.subarray(off, off + 16);
    const o = table.readUInt32LE(off + 16);
    const len = table.readUInt32LE(off + 20);
    if (guid.equals(Buffer.alloc(16))) break;
    if (o + len > table.length || len === 0) throw new PlatformError('EVIDENCE_MALFORMED', 'SEV-SNP cert table entry points outside the table');
    const k = known.find(([, gb]) => gb.equals(guid));
    if (k) out[k[0] as keyof typeof SNP_CERT_GUIDS] = table.subarray(o, o + len);
  }
  return out;
}

export function buildCertTable(entries: Partial<Record<keyof typeof SNP_CERT_GUIDS, Buffer>>): Buffer {
  const list = Object.entries(entries) as Array<[keyof typeof SNP_CERT_GUIDS, Buffer]>;
  const head = Buffer.alloc(24 * (list.length + 1));
  let off = head.length;
  list.forEach(([k, data], i) => {
    guidBytes(SNP_CERT_GUIDS[k]).copy(head, i * 24);
    head.writeUInt32LE(off, i * 24 + 16);
    head.writeUInt32LE(data.length, i * 24 + 20);
    off += data.length;
  });
  return Buffer.concat([head, ...list.map(([, d]) => d)]);
}
