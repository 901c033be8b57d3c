// A small SM2 signature verifier (GB/T 32918.2) in BigInt over node's SM3.
// Node's crypto.verify cannot set the SM2 user id that goes into Z, and Hygon
// signs with issuer ids such as "HYGON-SSD-PEK"; verification needs only public
// data, so constant time does not matter here.
import { createHash } from 'node:crypto';

const P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
const A = 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn;
const B = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;
const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const GX = 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n;
const GY = 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n;

type Pt = { x: bigint; y: bigint; z: bigint }; // Jacobian; z = 0 is infinity
const INF: Pt = { x: 1n, y: 1n, z: 0n };

const mod = (a: bigint, m = P) => {
  const r = a % m;
  return r < 0n ? r + m : r;
};

function inv(a: bigint, m = P): bigint {
  let [lo, hi, x0, x1] = [mod(a, m), m, 1n, 0n];
  while (lo > 1n) {
    const q = hi / lo;
    [lo, hi] = [hi - q * lo, lo];
    [x0, x1] = [x1 - q * x0, x0];
  }
  return mod(x0, m);
}

function dbl(p: Pt): Pt {
  if (p.z === 0n || p.y === 0n) return INF;
  const y2 = mod(p.y * p.y);
  const s = mod(4n * p.x * y2);
  const z2 = mod(p.z * p.z);
  const m = mod(3n * p.x * p.x + A * z2 * z2);
  const x = mod(m * m - 2n * s);
  return { x, y: mod(m * (s - x) - 8n * y2 * y2), z: mod(2n * p.y * p.z) };
}

function add(p: Pt, q: Pt): Pt {
  if (p.z === 0n) return q;
  if (q.z === 0n) return p;
  const z1 = mod(p.z * p.z);
  const z2 = mod(q.z * q.z);
  const u1 = mod(p.x * z2);
  const u2 = mod(q.x * z1);
  const s1 = mod(p.y * z2 * q.z);
  const s2 = mod(q.y * z1 * p.z);
  if (u1 === u2) return s1 === s2 ? dbl(p) : INF;
  const h = mod(u2 - u1);
  const r = mod(s2 - s1);
  const h2 = mod(h * h);
  const h3 = mod(h2 * h);
  const x = mod(r * r - h3 - 2n * u1 * h2);
  return { x, y: mod(r * (u1 * h2 - x) - s1 * h3), z: mod(h * p.z * q.z) };
}

function mul(k: bigint, p: Pt): Pt {
  let r = INF;
  for (let i = BigInt(k.toString(2).length - 1); i >= 0n; i--) {
    r = dbl(r);
    if ((k >> i) & 1n) r = add(r, p);
  }
  return r;
}

function affine(p: Pt): { x: bigint; y: bigint } | undefined {
  if (p.z === 0n) return undefined;
  const zi = inv(p.z);
  const zi2 = mod(zi * zi);
  return { x: mod(p.x * zi2), y: mod(p.y * zi2 * zi) };
}

const be32 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
const big = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);

export interface Sm2PublicKey {
  /** Big-endian 32-byte coordinates. */
  x: Buffer;
  y: Buffer;
}

export function onCurve(k: Sm2PublicKey): boolean {
  const x = big(k.x);
  const y = big(k.y);
  if (x >= P || y >= P) return false;
  return mod(y * y) === mod(x * x * x + A * x + B);
}

/** Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA). */
export function sm2Z(userId: Uint8Array, k: Sm2PublicKey): Buffer {
  const entl = Buffer.alloc(2);
  entl.writeUInt16BE(userId.length * 8);
  return createHash('sm3').update(entl).update(userId).update(be32(A)).update(be32(B)).update(be32(GX)).update(be32(GY)).update(k.x).update(k.y).digest();
}

/** Verifies an SM2 signature (r, s big-endian) over `msg` with SM3 and `userId`. */
export function sm2Verify(k: Sm2PublicKey, userId: Uint8Array, msg: Uint8Array, r: Uint8Array, s: Uint8Array): boolean {
  return sm2VerifyDigest(k, createHash('sm3').update(sm2Z(userId, k)).update(msg).digest(), r, s);
}

/** The core check over a precomputed digest e (SM3 of Z || M in the standard form). */
export function sm2VerifyDigest(k: Sm2PublicKey, digest: Uint8Array, r: Uint8Array, s: Uint8Array): boolean {
  if (!onCurve(k)) return false;
  const rr = big(r);
  const ss = big(s);
  if (rr < 1n || rr >= N || ss < 1n || ss >= N) return false;
  const e = big(digest);
  const t = mod(rr + ss, N);
  if (t === 0n) return false;
  const pt = affine(add(mul(ss, { x: GX, y: GY, z: 1n }), mul(t, { x: big(k.x), y: big(k.y), z: 1n })));
  if (!pt) return false;
  return mod(e + pt.x, N) === rr;
}
