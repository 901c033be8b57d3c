// Typed records of the capsule manager over the Store interface:
//   party.<party_id>                 {certs, scheme}
//   dataset.<enc(data_uuid)>         {owner_party_id, ancestor_uuids?, scope?}
//   datakey.<enc(resource_uri)>      {owner_party_id, wrapped}   (key wrapped under the KEK)
//   policy.<enc(scope)>.<enc(uuid)>  {owner_party_id, policy}
// Read-modify-write goes through compare-and-set with retries, so replicas
// sharing NATS never lose each other's updates.
import { createHash } from 'node:crypto';
import { CmError } from '../errors.ts';
import type { Policy } from './model.ts';
import type { KeyLineage } from './lineage.ts';
import type { Kek } from './kek.ts';
import { encodeKeyPart, type Store } from './store.ts';

export interface PartyRecord {
  certs: string[];
  scheme: string;
}
export interface DatasetRecord extends KeyLineage {
  scope?: string;
}
export interface PolicyRecord {
  owner_party_id: string;
  policy: Policy;
}
interface DataKeyRecord {
  owner_party_id: string;
  wrapped: { iv: string; ct: string; tag: string };
}

const enc = encodeKeyPart;
const json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');
const parse = <T>(b: Buffer): T => JSON.parse(b.toString('utf8')) as T;

export class Repository {
  constructor(readonly store: Store, private readonly kek: Kek) {}

  async getParty(id: string): Promise<PartyRecord | undefined> {
    const e = await this.store.get(`party.${id}`);
    return e && parse<PartyRecord>(e.value);
  }

  async putParty(id: string, rec: PartyRecord): Promise<void> {
    await this.upsert(`party.${id}`, () => rec);
  }

  /**
   * Records a key release's nonce; REPLAYED when it was recorded before. Keys
   * are bucketed by time (`nonce.<bucket>.<digest>`) so whole expired buckets
   * can be swept; the store's create is atomic, so replicas share the record.
   */
  async claimNonce(party: string, nonce: string, bucket: number): Promise<void> {
    try {
      await this.store.create(nonceKey(party, nonce, bucket), Buffer.from('1'));
    } catch (e) {
      if (CmError.is(e, 'ALREADY_EXISTS')) throw replayedError();
      throw e;
    }
  }

  /** REPLAYED when the nonce was recorded before (a read: it records nothing). */
  async checkNonce(party: string, nonce: string, bucket: number): Promise<void> {
    if (await this.store.get(nonceKey(party, nonce, bucket))) throw replayedError();
  }

  /** Deletes the nonce records of buckets before `keepFrom`. */
  async sweepNonces(keepFrom: number): Promise<number> {
    let n = 0;
    for (const e of await this.store.list('nonce')) {
      const b = Number(e.key.split('.')[1]);
      if (b < keepFrom) {
        await this.store.delete(e.key).catch(() => undefined);
        n++;
      }
    }
    return n;
  }

  async getDataset(uuid: string): Promise<DatasetRecord | undefined> {
    const e = await this.store.get(`dataset.${enc(uuid)}`);
    return e && parse<DatasetRecord>(e.value);
  }

  /** Creates the dataset record for `owner`, or checks that `owner` owns it. */
  async claimDataset(uuid: string, owner: string): Promise<void> {
    const cur = await this.getDataset(uuid);
    if (cur) {
      if (cur.owner_party_id !== owner) throw new CmError('NOT_OWNER', `data ${uuid} belongs to another party`);
      return;
    }
    try {
      await this.store.create(`dataset.${enc(uuid)}`, json({ owner_party_id: owner }));
    } catch (e) {
      if (!CmError.is(e, 'ALREADY_EXISTS')) throw e;
      return this.claimDataset(uuid, owner);
    }
  }

  async createResultDataset(uuid: string, rec: DatasetRecord): Promise<void> {
    await this.store.create(`dataset.${enc(uuid)}`, json(rec));
  }

  async createDataKey(uri: string, owner: string, key: Buffer): Promise<void> {
    const name = `datakey.${enc(uri)}`;
    await this.store.create(name, json({ owner_party_id: owner, wrapped: this.kek.wrap(key, name) } satisfies DataKeyRecord));
  }

  async hasDataKey(uri: string): Promise<boolean> {
    return (await this.store.get(`datakey.${enc(uri)}`)) !== undefined;
  }

  async getDataKey(uri: string): Promise<{ owner: string; key: Buffer } | undefined> {
    const name = `datakey.${enc(uri)}`;
    const e = await this.store.get(name);
    if (!e) return undefined;
    const r = parse<DataKeyRecord>(e.value);
    return { owner: r.owner_party_id, key: this.kek.unwrap(r.wrapped, name) };
  }

  async deleteDataKey(uri: string, owner: string): Promise<void> {
    const name = `datakey.${enc(uri)}`;
    const e = await this.store.get(name);
    if (!e) throw new CmError('NOT_FOUND', `no data key for ${uri}`);
    if (parse<DataKeyRecord>(e.value).owner_party_id !== owner) throw new CmError('NOT_OWNER', `the data key of ${uri} belongs to another party`);
    await this.store.delete(name, e.revision);
  }

  private policyKey(scope: string, uuid: string): string {
    return `policy.${enc(scope)}.${enc(uuid)}`;
  }

  async getPolicy(scope: string, uuid: string): Promise<PolicyRecord | undefined> {
    const e = await this.store.get(this.policyKey(scope, uuid));
    return e && parse<PolicyRecord>(e.value);
  }

  async listPolicies(scope: string): Promise<PolicyRecord[]> {
    return (await this.store.list(`policy.${enc(scope)}`)).map((e) => parse<PolicyRecord>(e.value));
  }

  /** Read-modify-write of a policy with compare-and-set; `fn` returns undefined to delete. */
  async modifyPolicy(scope: string, uuid: string, fn: (cur: PolicyRecord | undefined) => PolicyRecord | undefined): Promise<void> {
    const key = this.policyKey(scope, uuid);
    for (let attempt = 0; attempt < 16; attempt++) {
      const e = await this.store.get(key);
      const next = fn(e && parse<PolicyRecord>(e.value));
      try {
        if (!e) {
          if (next) await this.store.create(key, json(next));
        } else if (next) await this.store.update(key, json(next), e.revision);
        else await this.store.delete(key, e.revision);
        return;
      } catch (err) {
        if (!CmError.is(err, 'CONFLICT') && !CmError.is(err, 'ALREADY_EXISTS') && !CmError.is(err, 'NOT_FOUND')) throw err;
      }
    }
    throw new CmError('CONFLICT', `policy ${uuid} is being changed concurrently; retry`);
  }

  private async upsert(key: string, fn: () => unknown): Promise<void> {
    for (let attempt = 0; attempt < 16; attempt++) {
      const e = await this.store.get(key);
      try {
        if (e) await this.store.update(key, json(fn()), e.revision);
        else await this.store.create(key, json(fn()));
        return;
      } catch (err) {
        if (!CmError.is(err, 'CONFLICT') && !CmError.is(err, 'ALREADY_EXISTS') && !CmError.is(err, 'NOT_FOUND')) throw err;
      }
    }
    throw new CmError('CONFLICT', `${key} is being changed concurrently; retry`);
  }
}

/** Key prefixes a read mirror should not hold: per-request nonces (many, written once, swept). */
export const UNCACHED_KEY_PREFIXES: readonly string[] = ['nonce'];

function nonceKey(party: string, nonce: string, bucket: number): string {
  return `nonce.${bucket}.${createHash('sha256').update(party).update('\0').update(nonce).digest('base64url')}`;
}

function replayedError(): CmError {
  return new CmError('REPLAYED', 'this request was already served (its freshness nonce was seen): a replay is refused');
}
