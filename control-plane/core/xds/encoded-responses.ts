// A change goes out to every stream that watches the snapshot, and the response
// is the same for every stream that gets the same resources of a version but
// for its nonce. At 10,000 streams, encoding it once per stream was most of a
// change's CPU, so it is encoded once per (resource set, what is sent, control
// plane id), without the nonce, and each stream's bytes are that encoding with
// the nonce field appended. Protobuf allows fields in any order and a parser
// takes them as they come, so the result decodes to exactly the message encoded
// with its nonce in place (test/control-plane/xds-hot-paths.test.ts checks it
// with the generated decoder).
import { DeltaDiscoveryResponse, DiscoveryResponse } from '../../../proto/gen/envoy/service/discovery/v3/discovery.ts';
import type { ResourceSet, XdsResource } from './snapshot.ts';

export interface EncodedSotw {
  /** The resources served, in response order. */
  items: readonly XdsResource[];
  /** The response without a nonce (shared: never mutate it; copy it to add the nonce). */
  message: Readonly<DiscoveryResponse>;
  /** `message` encoded (its nonce is empty, so the field is absent). */
  bytes: Uint8Array;
}

export interface EncodedDelta {
  /** The response without a nonce (shared: never mutate it; copy it to add the nonce). */
  message: Readonly<DeltaDiscoveryResponse>;
  /** `message` encoded (its nonce is empty, so the field is absent). */
  bytes: Uint8Array;
}

/** DiscoveryResponse.nonce and DeltaDiscoveryResponse.nonce: field 5, length-delimited. */
const NONCE_TAG = (5 << 3) | 2;
/** Distinct responses remembered per resource set (named subscriptions may differ per node). */
const MAX_PER_SET = 64;

const sotwCache = new WeakMap<ResourceSet, Map<string, EncodedSotw>>();
const deltaCache = new WeakMap<ResourceSet, Map<string, EncodedDelta>>();

function entries<E>(cache: WeakMap<ResourceSet, Map<string, E>>, set: ResourceSet): Map<string, E> {
  let m = cache.get(set);
  if (!m) cache.set(set, (m = new Map()));
  else if (m.size >= MAX_PER_SET) m.clear();
  return m;
}

/**
 * The SotW response for a set and a subscription (`names` undefined: wildcard),
 * encoded once and reused while the set lives. `names` keeps the order the
 * client asked in; names the set lacks are left out.
 */
export function encodedSotw(typeUrl: string, set: ResourceSet, names: Iterable<string> | undefined, controlPlaneId: string): EncodedSotw {
  const list = names === undefined ? undefined : [...names];
  // '*'-prefixed for the wildcard; a JSON array (starting with '[') for names.
  const key = list === undefined ? `*${controlPlaneId}` : JSON.stringify([controlPlaneId, list]);
  const cached = sotwCache.get(set)?.get(key);
  if (cached) return cached;
  const items: XdsResource[] = [];
  if (list === undefined) for (const r of set.items.values()) items.push(r);
  else
    for (const n of list) {
      const r = set.items.get(n);
      if (r !== undefined) items.push(r);
    }
  const resources = [];
  for (const r of items) resources.push(r.any);
  const message = DiscoveryResponse.fromPartial({ versionInfo: set.version, resources, typeUrl, nonce: '', controlPlane: { identifier: controlPlaneId } });
  const e: EncodedSotw = { items, message, bytes: DiscoveryResponse.encode(message).finish() };
  entries(sotwCache, set).set(key, e);
  return e;
}

/**
 * The delta response carrying `changed` (resources of `set`, each at its
 * version) and `removed` (names), encoded once per set and content.
 */
export function encodedDelta(typeUrl: string, set: ResourceSet, changed: readonly XdsResource[], removed: readonly string[], controlPlaneId: string): EncodedDelta {
  const names: string[] = [];
  for (const r of changed) names.push(r.name);
  const key = JSON.stringify([controlPlaneId, names, removed]);
  const cached = deltaCache.get(set)?.get(key);
  if (cached) return cached;
  const resources = [];
  for (const r of changed) resources.push({ name: r.name, version: r.version, resource: r.any });
  const message = DeltaDiscoveryResponse.fromPartial({ systemVersionInfo: set.version, typeUrl, nonce: '', resources, removedResources: [...removed], controlPlane: { identifier: controlPlaneId } });
  const e: EncodedDelta = { message, bytes: DeltaDiscoveryResponse.encode(message).finish() };
  entries(deltaCache, set).set(key, e);
  return e;
}

/** The encoding of a message with `nonce` set, from `bytes`, its encoding without a nonce: the nonce field appended. */
export function withNonce(bytes: Uint8Array, nonce: string): Buffer {
  if (nonce === '') return Buffer.from(bytes);
  const len = Buffer.byteLength(nonce, 'utf8');
  let lenBytes = 1;
  for (let v = len; v >= 0x80; v >>>= 7) lenBytes++;
  const out = Buffer.allocUnsafe(bytes.length + 1 + lenBytes + len);
  out.set(bytes, 0);
  let i = bytes.length;
  out[i++] = NONCE_TAG;
  let v = len;
  while (v >= 0x80) {
    out[i++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[i++] = v;
  out.write(nonce, i, 'utf8');
  return out;
}
