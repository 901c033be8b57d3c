// Fuzzing what the capsule manager reads from clients: the JWE(JWS(request))
// envelope, the JWS with x5c, export votes, and the request bodies behind every
// encrypted RPC (sealed and signed for real, so the fuzzed JSON reaches the
// service's own parsing). Property: a response or a CmError, never another
// exception; a rejected request leaves the store exactly as it was.
import t, { type Test } from 'tap';
import { createPublicKey, createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptJwe, encryptJwe, openRequest, sealRequest, signJws, verifyJws, type JweJson } from '../../capsule-manager/core/envelope.ts';
import { checkExportVotes, exportAction } from '../../capsule-manager/core/export-votes.ts';
import { generatePartyKeys } from '../../capsule-manager/core/party-keys.ts';
import { CmError } from '../../capsule-manager/errors.ts';
import { CapsuleManagerService, ENCRYPTED_RPCS, type EncryptedRpc } from '../../capsule-manager/core/capsule-manager-service.ts';
import { Repository } from '../../capsule-manager/core/repository.ts';
import { FileStore } from '../../capsule-manager/storage/file-store.ts';
import { openKek } from '../../capsule-manager/core/kek.ts';
import { memoryAuditLog } from '../../capsule-manager/storage/audit-log.ts';
import { buildHttpApi } from '../../capsule-manager/transport/http.ts';
import { GROUP_OP } from '../../tls-groups/index.ts';
import { CreateResultDataKeyRequest_Body, ResourceRequest as ResourceRequestPb } from '../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { createAttester, createEvidenceVerifier } from '../../platforms/index.ts';
import { evidenceToUal } from '../../platforms/catalog/ual-report.ts';
import type { Store } from '../../capsule-manager/core/store.ts';
import { checkProperty, expectTyped, fc } from './fuzz-config.ts';
import { applyPemEdits, applyTextEdits, byteEdits, hostileJson, type ByteEdit } from './mutations.ts';

const cm = await generatePartyKeys('cm');
const alice = await generatePartyKeys('alice');
const cmPub = createPublicKey(cm.privateKey);
const signer = { privateKey: alice.privateKey, certChainPem: [alice.certPem] };
const b64u = (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url');

// ---- the service fixture: every encrypted RPC, with really sealed and signed bodies

const KEY_B64 = Buffer.alloc(16, 3).toString('base64');
const rule = { rule_id: 'r1', grantee_party_ids: [alice.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: ['r.op_name == "PSI"'] }, { op_name: GROUP_OP }], global_constraints: [] };
const rr = (op: string) => ({ initiator_party_id: alice.partyId, scope: 'default', op_name: op, resources: [{ resource_uri: 'd1', columns: ['a'] }], env: '', global_attrs: '' });
/** Key releases carry freshness; these placeholders become a current time and a new nonce when sent (edits may replace them). */
const FRESH = { request_time: '<now>', nonce: '<nonce>' };
function refreshed(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const f = (body as { freshness?: unknown }).freshness;
  if (!f || typeof f !== 'object' || Array.isArray(f)) return body;
  const g = { ...(f as Record<string, unknown>) };
  if (g.request_time === FRESH.request_time) g.request_time = new Date().toISOString();
  if (g.nonce === FRESH.nonce) g.nonce = randomBytes(18).toString('base64url');
  return { ...body, freshness: g };
}
/** A valid body per RPC; the fuzzer edits its fields. */
const TEMPLATES: Record<EncryptedRpc, Record<string, unknown>> = {
  RegisterCert: { owner_party_id: alice.partyId, certs: [alice.certPem], scheme: 'RSA' },
  CreateDataKeys: { owner_party_id: alice.partyId, data_keys: [{ resource_uri: 'd2', data_key_b64: KEY_B64 }, { resource_uri: 'd3/p1', data_key_b64: KEY_B64 }] },
  DeleteDataKey: { owner_party_id: alice.partyId, resource_uri: 'd1' },
  CreateDataPolicy: { owner_party_id: alice.partyId, scope: 'default', policy: { data_uuid: 'd2', rules: [rule] } },
  ListDataPolicy: { owner_party_id: alice.partyId, scope: 'default' },
  AddDataRule: { owner_party_id: alice.partyId, scope: 'default', data_uuid: 'd1', rule: { ...rule, rule_id: 'r2' } },
  DeleteDataRule: { owner_party_id: alice.partyId, scope: 'default', data_uuid: 'd1', rule_id: 'r1' },
  DeleteDataPolicy: { owner_party_id: alice.partyId, scope: 'default', data_uuid: 'd1' },
  GetDataKeys: { cert: alice.certPem, resource_request: rr('PSI'), freshness: FRESH },
  GetTlsAsset: { cert: alice.certPem, resource_request: rr(GROUP_OP), freshness: FRESH },
  CreateResultDataKey: { body: { resource_uri: 'res1', scope: 'default', data_key_b64: KEY_B64, ancestor_uuids: ['d1'] } },
  GetExportDataKey: { request_party_id: alice.partyId, resource_uri: 'd1', data_export_certificate: '{"votes":[]}' },
};

async function contents(s: Store): Promise<Map<string, string>> {
  return new Map((await s.list('')).map((e) => [e.key, e.value.toString('base64')]));
}

function sameContents(a: Map<string, string>, b: Map<string, string>): string | undefined {
  for (const [k, v] of a) if (b.get(k) !== v) return `${k} ${b.has(k) ? 'changed' : 'removed'}`;
  for (const k of b.keys()) if (!a.has(k)) return `${k} added`;
  return undefined;
}

/**
 * A capsule manager over a real file store and the real sim verifier, in the
 * state every run starts from: alice registered, a data key and a policy for d1.
 * `lax` is Trustflow's sim mode (no report required), so fuzzed bodies reach the
 * policy and key paths; `strict` checks attestation reports.
 */
async function serviceFixture(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'cm-fuzz-'));
  const store = await FileStore.open({ dir: join(dir, 'store') });
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const repo = new Repository(store, await openKek(store, 'fuzz passphrase 123', { cost: 1024 }));
  const appAttester = await createAttester('sim', { simKeyDir: join(dir, 'app-sim'), simMeasurements: { mr_ta: 'a1'.repeat(32) } });
  const base = { repo, identity: { privateKey: cm.privateKey, certPem: cm.certPem, partyId: cm.partyId }, verifier: createEvidenceVerifier({ trustedSimKeys: [appAttester.simPublicKeyPem!] }), appraisal: { allowInsecure: true }, audit: memoryAuditLog() };
  const lax = new CapsuleManagerService({ ...base, requireAttestation: false });
  const strict = new CapsuleManagerService({ ...base, requireAttestation: true });
  await call(lax, 'RegisterCert', TEMPLATES.RegisterCert);
  await call(lax, 'CreateDataKeys', { owner_party_id: alice.partyId, data_keys: [{ resource_uri: 'd1', data_key_b64: KEY_B64 }] });
  await call(lax, 'CreateDataPolicy', { owner_party_id: alice.partyId, scope: 'default', policy: { data_uuid: 'd1', rules: [rule] } });
  const baseline = await contents(store);

  /** Back to the baseline through the store's own API, so every run starts from the same state. */
  async function restore(): Promise<void> {
    const now = await store.list('');
    for (const e of now) {
      const want = baseline.get(e.key);
      if (want === undefined) await store.delete(e.key);
      else if (want !== e.value.toString('base64')) await store.update(e.key, Buffer.from(want, 'base64'), e.revision);
    }
    const keys = new Set(now.map((e) => e.key));
    for (const [k, v] of baseline) if (!keys.has(k)) await store.create(k, Buffer.from(v, 'base64'));
  }

  /** Runs one request: a response or a CmError; a rejected one must leave the store as it was. */
  async function attempt(rpc: EncryptedRpc, run: () => Promise<unknown>): Promise<void> {
    const before = await contents(store);
    let ok = false;
    try {
      await run();
      ok = true;
    } catch (e) {
      expectTyped(e, CmError);
    }
    if (!ok) {
      const diff = sameContents(before, await contents(store));
      if (diff) throw new Error(`a rejected ${rpc} changed the store: ${diff}`);
    } else {
      await restore();
    }
  }
  return { store, lax, strict, appAttester, baseline, restore, attempt, unchanged: async () => sameContents(baseline, await contents(store)) };
}

async function call(svc: CapsuleManagerService, rpc: EncryptedRpc, body: unknown, signed = true) {
  const env = await sealRequest(refreshed(body), cmPub, signed ? signer : undefined);
  return svc.handle(rpc, { message: env.message, has_signature: env.has_signature });
}

/** Leaf paths of a template, for field edits. */
function paths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (v === null || typeof v !== 'object') return [prefix];
  const kids = Array.isArray(v) ? v.map((x, i) => paths(x, [...prefix, i])) : Object.entries(v).map(([k, x]) => paths(x, [...prefix, k]));
  return [prefix, ...kids.flat()];
}

/** Replace a field (or the whole body) with any JSON, delete it, or edit the bytes of a string field (a PEM, base64, JSON text). */
type FieldEdit = { at: number; value: unknown; del: boolean } | { at: number; text: ByteEdit[] };
function editBody(template: Record<string, unknown>, edits: FieldEdit[]): unknown {
  let body: unknown = structuredClone(template);
  const all = paths(template);
  for (const e of edits) {
    const p = all[e.at % all.length]!;
    if (p.length === 0) {
      if (!('text' in e)) body = e.value;
      continue;
    }
    let o = body as Record<string | number, unknown> | null;
    for (const k of p.slice(0, -1)) o = o && typeof o === 'object' ? (o[k] as Record<string | number, unknown>) : null;
    if (!o || typeof o !== 'object') continue;
    const last = p[p.length - 1]!;
    if ('text' in e) {
      if (typeof o[last] === 'string') o[last] = applyPemEdits(o[last] as string, e.text);
    } else if (e.del) delete o[last];
    else o[last] = e.value;
  }
  return body;
}

const fieldEdits: fc.Arbitrary<FieldEdit[]> = fc.array(fc.oneof(fc.record({ at: fc.nat(), value: hostileJson, del: fc.boolean() }), fc.record({ at: fc.nat(), text: byteEdits(2) })), { minLength: 0, maxLength: 3 });

// ---- the envelope

t.test('envelope: openRequest, decryptJwe and verifyJws on mutated input', async (t) => {
  await checkProperty(t, 'sealed requests open', [hostileJson, fc.boolean()], async (req, signed) => {
    const env = await sealRequest(req, cmPub, signed ? signer : undefined);
    const out = await openRequest(env.message, env.has_signature, cm.privateKey);
    if (JSON.stringify(out.request) !== JSON.stringify(req)) throw new Error('request differs after a round trip');
    if (signed && out.signer?.partyId !== alice.partyId) throw new Error('signer differs');
  }, { runs: 40 });

  const members = ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag', 'aad'] as const;
  const jweEdit = fc.oneof(
    fc.record({ kind: fc.constant('value' as const), member: fc.constantFrom(...members), value: hostileJson }),
    fc.record({ kind: fc.constant('text' as const), member: fc.constantFrom(...members), edits: byteEdits(2) }),
    fc.record({ kind: fc.constant('header' as const), header: hostileJson }),
  );
  await checkProperty(t, 'mutated envelopes are BAD_ENVELOPE / BAD_SIGNATURE', [fc.boolean(), fc.array(jweEdit, { minLength: 1, maxLength: 3 }), fc.boolean()], async (signed, edits, claimSig) => {
    const req = { owner_party_id: alice.partyId, scope: 'x' };
    const env = await sealRequest(req, cmPub, signed ? signer : undefined);
    const m = { ...env.message } as Record<string, unknown>;
    for (const e of edits) {
      if (e.kind === 'value') m[e.member] = e.value;
      else if (e.kind === 'text') m[e.member] = applyTextEdits(typeof m[e.member] === 'string' ? (m[e.member] as string) : (JSON.stringify(m[e.member]) ?? ''), e.edits);
      else m.protected = b64u(e.header);
    }
    try {
      const out = await openRequest(m as unknown as JweJson, claimSig, cm.privateKey);
      // Unsigned reading of a signed envelope yields the JWS object itself (the service then treats it as unsigned).
      if (claimSig === signed && JSON.stringify(out.request) !== JSON.stringify(req)) throw new Error('a mutated envelope opened to another request');
    } catch (e) {
      expectTyped(e, CmError);
    }
  }, { runs: 150 });

  // The JWS inside: a lying header (what `null`, a number or a list as the header does), bad x5c, edits.
  const jws = await signJws(Buffer.from('{"a":1}'), signer);
  const x5c = JSON.parse(Buffer.from(jws.protected, 'base64url').toString()).x5c as string[];
  const headerArb = fc.oneof(
    hostileJson,
    fc.record({ alg: fc.oneof(fc.constantFrom('RS256', 'PS256', 'ES256', 'EdDSA', 'none', 'HS256'), hostileJson), x5c: fc.oneof(fc.constant(x5c), fc.array(fc.oneof(fc.constant(x5c[0]!), fc.base64String({ maxLength: 80 }), hostileJson), { maxLength: 9 }), hostileJson) }, { requiredKeys: [] }),
  );
  await checkProperty(t, 'verifyJws over hostile headers and edits', [fc.oneof(
    headerArb.map((h) => ({ ...jws, protected: b64u(h) }) as unknown),
    fc.record({ member: fc.constantFrom('protected', 'payload', 'signature'), edits: byteEdits(2) }).map(({ member, edits }) => ({ ...jws, [member]: applyTextEdits(String(jws[member]), edits) }) as unknown),
    hostileJson,
  )], async (input) => {
    try {
      const out = await verifyJws(input);
      if (Buffer.from(out.payload).toString() !== '{"a":1}') throw new Error('a mutated JWS verified with another payload');
    } catch (e) {
      expectTyped(e, CmError);
    }
  }, { runs: 400 });

  await checkProperty(t, 'decryptJwe arbitrary objects', [fc.oneof(hostileJson, fc.record(Object.fromEntries(members.map((m) => [m, fc.oneof(fc.base64String({ maxLength: 40 }), hostileJson)])), { requiredKeys: [] }))], async (v) => {
    try {
      await decryptJwe(v as JweJson, cm.privateKey);
    } catch (e) {
      expectTyped(e, CmError);
    }
  }, { runs: 400 });
});

t.test('regression: a JWS whose protected header is JSON null', async (t) => {
  // Found by 'verifyJws over hostile headers and edits': JSON.parse("null").x5c was a TypeError.
  await t.rejects(verifyJws({ protected: 'bnVsbA', payload: 'e30', signature: '' }), { code: 'BAD_ENVELOPE', message: /not a JSON object/ });
  const env = { message: await encryptJwe(Buffer.from(JSON.stringify({ protected: 'bnVsbA', payload: 'e30', signature: '' })), cmPub), has_signature: true };
  await t.rejects(openRequest(env.message, true, cm.privateKey), { code: 'BAD_ENVELOPE' });
});

t.test('regression: an x5c certificate whose public key does not decode', async (t) => {
  // Found by 'verifyJws over hostile headers and edits' (an edit inside x5c[0]'s
  // SubjectPublicKeyInfo algorithm OID): the certificate parses, but its key is
  // decoded lazily and `.publicKey` threw OpenSSL's raw "decode error". The input:
  // Intel's SGX root CA with id-ecPublicKey changed to 1.2.840.10045.2.2.
  const cert =
    'MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIwaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYTAlVTMFkwEwYHKoZIzj0CAgYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi71OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOBuzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJMEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SVUr9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYIKoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwgAiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=';
  const protectedB64 = Buffer.from(JSON.stringify({ alg: 'ES256', x5c: [cert] })).toString('base64url');
  await t.rejects(verifyJws({ protected: protectedB64, payload: 'e30', signature: 'AAAA' }, new Date('2030-01-01')), { code: 'BAD_SIGNATURE', message: /invalid certificate/ });
  // Found again by 'edited certificates in RegisterCert and GetDataKeys' (a one-bit flip in
  // the uploaded certificate's key OID): RegisterCert's party id of certs[0] threw the same.
  const { lax, unchanged } = await serviceFixture(t);
  const pem = `-----BEGIN CERTIFICATE-----\n${cert.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  await t.rejects(call(lax, 'RegisterCert', { ...TEMPLATES.RegisterCert, certs: [pem] }), { code: 'INVALID_CERT' });
  await t.rejects(call(lax, 'GetDataKeys', { ...TEMPLATES.GetDataKeys, cert: pem }), { code: 'INVALID_CERT' });
  t.equal(await unchanged(), undefined, 'the store is unchanged');
});

t.test('rejected JWS do not evict the cached x5c chains of real clients', async (t) => {
  // verifyJws caches parsed chains (bounded, 256). It used to cache before the
  // signature was checked, so 256 forged requests with distinct x5c spellings
  // (base64 decoding skips line breaks) evicted every real client's chain. The
  // cached chain is observable: verifyJws returns its certificate objects.
  const good = await signJws(Buffer.from('{}'), signer);
  const first = (await verifyJws(good)).signer.chain[0];
  t.equal((await verifyJws(good)).signer.chain[0], first, 'a verified chain is cached');
  const header = JSON.parse(Buffer.from(good.protected, 'base64url').toString()) as { alg: string; x5c: string[] };
  let rejected = 0;
  for (let i = 0; i < 300; i++) {
    const spelled = `${header.x5c[0]!.slice(0, 64)}${'\n'.repeat(i + 1)}${header.x5c[0]!.slice(64)}`;
    const forged = { ...good, protected: Buffer.from(JSON.stringify({ ...header, x5c: [spelled] })).toString('base64url') };
    await verifyJws(forged).catch((e: unknown) => {
      if (CmError.is(e, 'BAD_SIGNATURE')) rejected++;
    });
  }
  t.equal(rejected, 300, 'every forged request is BAD_SIGNATURE');
  t.equal((await verifyJws(good)).signer.chain[0], first, 'still cached after 300 rejected requests');
});

t.test('export votes: signed votes with arbitrary payloads are a decision or a CmError', async (t) => {
  const payloadArb = fc.oneof(
    hostileJson,
    fc.record({ type: fc.oneof(fc.constant('TEE_DOWNLOAD'), hostileJson), request_party_id: fc.oneof(fc.constant(alice.partyId), hostileJson), approved_action: fc.oneof(fc.constant(exportAction('r1')), hostileJson), action: fc.oneof(fc.constantFrom('APPROVE', 'REJECT'), hostileJson), exp: hostileJson }, { requiredKeys: [] }),
  );
  const cache = new Map<string, string>();
  const vote = async (payload: unknown): Promise<string> => {
    const text = JSON.stringify(payload) ?? 'null';
    let v = cache.get(text);
    if (!v) {
      const j = await signJws(Buffer.from(text), signer);
      v = `${j.protected}.${j.payload}.${j.signature}`;
      cache.set(text, v);
    }
    return v;
  };
  await checkProperty(t, 'checkExportVotes over signed arbitrary payloads', [fc.array(fc.oneof(payloadArb.map((p) => ({ p })), fc.string({ maxLength: 20 }).map((s) => ({ s }))), { maxLength: 3 }), fc.boolean()], async (votes, wrap) => {
    const list = await Promise.all(votes.map((v) => ('p' in v ? vote(v.p) : v.s)));
    try {
      const d = await checkExportVotes(wrap ? JSON.stringify({ votes: list }) : JSON.stringify(list), { owners: [alice.partyId], requestPartyId: alice.partyId, resourceUri: 'r1' });
      if (d.allowed && !votes.some((v) => 'p' in v && (v.p as { action?: unknown } | null)?.action === 'APPROVE')) throw new Error('allowed without an APPROVE vote');
    } catch (e) {
      expectTyped(e, CmError);
    }
  }, { runs: 150 });
  t.same(await checkExportVotes(JSON.stringify({ votes: [await vote({ type: 'TEE_DOWNLOAD', request_party_id: alice.partyId, approved_action: exportAction('r1'), action: 'APPROVE' })] }), { owners: [alice.partyId], requestPartyId: alice.partyId, resourceUri: 'r1' }), { allowed: true, reasons: [] }, 'a real approval is allowed (the property is not vacuous)');
});

t.test('regression: an owner-signed vote whose payload is JSON null', async (t) => {
  // Found by 'checkExportVotes over signed arbitrary payloads': payload.type of null was a TypeError.
  const j = await signJws(Buffer.from('null'), signer);
  const d = await checkExportVotes(JSON.stringify({ votes: [`${j.protected}.${j.payload}.${j.signature}`] }), { owners: [alice.partyId], requestPartyId: alice.partyId, resourceUri: 'r1' });
  t.equal(d.allowed, false);
  t.match(d.reasons.join('\n'), /not a vote object/);
});

t.test('service: fuzzed bodies of every encrypted RPC', async (t) => {
  const { lax, strict, appAttester, attempt, restore } = await serviceFixture(t);
  await checkProperty(t, 'signed requests with edited bodies', [fc.constantFrom(...ENCRYPTED_RPCS), fieldEdits, fc.boolean()], async (rpc, edits, signed) => {
    await attempt(rpc, () => call(lax, rpc, editBody(TEMPLATES[rpc], edits), signed));
  }, { runs: 300, maxRunMs: 10_000 });

  // GetDataKeys/GetTlsAsset/CreateResultDataKey with attestation reports: real sim
  // evidence bound to the request, bound to something else, or edited.
  const reportKind = fc.oneof(fc.constant({ kind: 'bound' as const }), fc.constant({ kind: 'unbound' as const }), fc.record({ kind: fc.constant('edited' as const), edits: byteEdits(2) }), fc.record({ kind: fc.constant('value' as const), value: hostileJson }));
  await checkProperty(t, 'attested requests with edited bodies and reports', [fc.constantFrom<EncryptedRpc>('GetDataKeys', 'GetTlsAsset', 'CreateResultDataKey'), fieldEdits, reportKind], async (rpc, edits, report) => {
    const body = editBody(TEMPLATES[rpc], edits) as Record<string, unknown>;
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      if (report.kind === 'value') body.attestation_report = report.value;
      else {
        let binding: Buffer;
        try {
          binding =
            rpc === 'CreateResultDataKey'
              ? createHash('sha256').update(CreateResultDataKeyRequest_Body.encode(CreateResultDataKeyRequest_Body.fromJSON(body.body)).finish()).digest()
              : createHash('sha256').update(String(body.cert ?? ''), 'utf8').update('.').update(ResourceRequestPb.encode(ResourceRequestPb.fromJSON(body.resource_request)).finish()).digest();
        } catch {
          binding = Buffer.alloc(32); // a body the service will refuse anyway
        }
        const ev = await appAttester.getEvidence(report.kind === 'unbound' ? Buffer.alloc(32, 9) : binding);
        const ual = evidenceToUal(report.kind === 'edited' ? { ...ev, quote: new Uint8Array(Buffer.from(applyTextEdits(Buffer.from(ev.quote).toString('latin1'), report.edits), 'latin1')) } : ev);
        body.attestation_report = ual;
      }
    }
    await attempt(rpc, () => call(strict, rpc, body));
  }, { runs: 150, maxRunMs: 10_000 });

  // What the transports hand over: any EncryptedRequest shape.
  await checkProperty(t, 'arbitrary EncryptedRequest shapes', [fc.constantFrom(...ENCRYPTED_RPCS), fc.record({ message: fc.oneof(hostileJson, fc.record({ protected: fc.oneof(fc.base64String({ maxLength: 30 }), hostileJson), ciphertext: fc.oneof(fc.base64String({ maxLength: 30 }), hostileJson), iv: hostileJson, tag: hostileJson, encrypted_key: hostileJson }, { requiredKeys: [] })), has_signature: fc.oneof(fc.boolean(), hostileJson), header: hostileJson }, { requiredKeys: [] })], async (rpc, req) => {
    await attempt(rpc, () => lax.handle(rpc, req as never));
  }, { runs: 300 });

  // Certificates a client uploads (RegisterCert) or names (GetDataKeys' cert):
  // format-aware edits of the DER reach the X.509 parser and its lazy key decoding.
  await checkProperty(t, 'edited certificates in RegisterCert and GetDataKeys', [fc.constantFrom<EncryptedRpc>('RegisterCert', 'GetDataKeys'), byteEdits(1)], async (rpc, edits) => {
    const pem = applyPemEdits(alice.certPem, edits);
    const body = rpc === 'RegisterCert' ? { ...TEMPLATES.RegisterCert, certs: [pem] } : { ...TEMPLATES.GetDataKeys, cert: pem };
    await attempt(rpc, () => call(lax, rpc, body));
  }, { runs: 300, maxRunMs: 10_000 });

  // Not vacuous: the templates themselves are accepted.
  for (const rpc of ['ListDataPolicy', 'GetDataKeys', 'AddDataRule', 'CreateDataKeys'] as const) {
    const r = await call(lax, rpc, TEMPLATES[rpc]);
    t.equal(r.status.code, 0, `${rpc} template succeeds`);
    await restore();
  }
});

t.test('HTTP transport: arbitrary bodies are 4xx {code, message}, never 5xx', async (t) => {
  const { lax, unchanged } = await serviceFixture(t);
  const app = await buildHttpApi(lax);
  t.teardown(() => app.close());
  const sealedBody = async (rpc: EncryptedRpc) => {
    const env = await sealRequest(refreshed(TEMPLATES[rpc]), cmPub, signer);
    return { message: env.message, has_signature: true } as Record<string, unknown>;
  };
  const good = await sealedBody('ListDataPolicy');
  const bodyArb = fc.oneof(
    hostileJson.map((v) => JSON.stringify(v) ?? ''),
    fc.record({ member: fc.constantFrom('message', 'has_signature', 'header'), value: hostileJson }).map(({ member, value }) => JSON.stringify({ ...good, [member]: value })),
    fc.record({ member: fc.constantFrom('protected', 'encrypted_key', 'iv', 'ciphertext', 'tag', 'aad'), value: hostileJson }).map(({ member, value }) => JSON.stringify({ ...good, message: { ...(good.message as object), [member]: value } })),
    byteEdits(2).map((e) => applyTextEdits(JSON.stringify(good), e)),
  );
  await checkProperty(t, 'CM HTTP bodies', [fc.constantFrom(...ENCRYPTED_RPCS, 'GetRaCert' as const), bodyArb], async (rpc, payload) => {
    const res = await app.inject({ method: 'POST', url: `/api/v1/${rpc}`, payload, headers: { 'content-type': 'application/json' } });
    if (res.statusCode >= 500) throw new Error(`${rpc} answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
    if (res.statusCode >= 400) {
      const err = JSON.parse(res.body) as { code?: unknown; message?: unknown };
      if (typeof err.code !== 'string' || typeof err.message !== 'string') throw new Error(`${res.statusCode} body is not {code,message}: ${res.body.slice(0, 200)}`);
      const diff = await unchanged();
      if (diff) throw new Error(`a refused ${rpc} changed the store: ${diff}`);
    }
  }, { runs: 300, maxRunMs: 10_000 });
  const ok = await app.inject({ method: 'POST', url: '/api/v1/ListDataPolicy', payload: good });
  t.equal(ok.statusCode, 200, 'a real sealed request is answered (the property is not vacuous)');
});

t.test('regression: policy and rule lists that are not arrays', async (t) => {
  const { lax, unchanged } = await serviceFixture(t);
  // Found by 'signed requests with edited bodies' (FUZZ_SEED=random FUZZ_RUNS=3000): (x ?? []).map on a
  // non-array was a TypeError. Shrunk counterexample: AddDataRule with rule.op_constraints = 0.
  await t.rejects(call(lax, 'AddDataRule', { ...TEMPLATES.AddDataRule, rule: { ...rule, rule_id: 'r2', op_constraints: 0 } }), { code: 'INVALID_REQUEST', message: /op_constraints must be a list/ });
  await t.rejects(call(lax, 'CreateDataPolicy', { owner_party_id: alice.partyId, scope: 'default', policy: { data_uuid: 'd2', rules: {} } }), { code: 'INVALID_REQUEST' });
  await t.rejects(call(lax, 'CreateDataPolicy', { owner_party_id: alice.partyId, scope: 'default', policy: { data_uuid: 'd2', rules: [{ ...rule, op_constraints: 'PSI' }] } }), { code: 'INVALID_REQUEST' });
  await t.rejects(call(lax, 'AddDataRule', { owner_party_id: alice.partyId, scope: 'default', data_uuid: 'd1', rule: { rule_id: 'r9', op_constraints: {} } }), { code: 'INVALID_REQUEST' });
  t.equal(await unchanged(), undefined, 'the store is unchanged');
});
