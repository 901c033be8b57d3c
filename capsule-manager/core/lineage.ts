// Lineage: a result computed from several datasets inherits a policy no looser
// than any ancestor's (grantees and op names intersected, constraints unioned,
// columns "*"), and export needs every original owner's approval.
import type { OpConstraint, Policy, Rule } from './model.ts';

const uniq = (xs: string[]): string[] => [...new Set(xs)];

/** Per ancestor, what any of its rules allows; then intersect across ancestors. */
export function deriveResultPolicy(dataUuid: string, ancestors: Policy[]): Policy {
  if (ancestors.length === 0) return { data_uuid: dataUuid, rules: [] };
  let grantees: Set<string> | undefined;
  let ops: Map<string, string[]> | undefined; // op -> constraints; "*" = any
  const global: string[] = [];
  for (const p of ancestors) {
    const g = new Set(p.rules.flatMap((r) => r.grantee_party_ids));
    grantees = grantees ? new Set([...grantees].filter((x) => g.has(x))) : g;
    const o = new Map<string, string[]>();
    for (const r of p.rules) for (const oc of r.op_constraints) o.set(oc.op_name, uniq([...(o.get(oc.op_name) ?? []), ...oc.constraints]));
    ops = ops ? intersectOps(ops, o) : o;
    for (const r of p.rules) global.push(...r.global_constraints);
  }
  const opConstraints: OpConstraint[] = [...ops!].map(([op_name, constraints]) => ({ op_name, constraints }));
  if (grantees!.size === 0 || opConstraints.length === 0) return { data_uuid: dataUuid, rules: [] };
  const rule: Rule = { rule_id: 'lineage', grantee_party_ids: [...grantees!].sort(), op_constraints: opConstraints, columns: ['*'], global_constraints: uniq(global) };
  return { data_uuid: dataUuid, rules: [rule] };
}

function intersectOps(a: Map<string, string[]>, b: Map<string, string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const aStar = a.get('*');
  const bStar = b.get('*');
  for (const [op, cs] of a) {
    if (op === '*') continue;
    const other = b.get(op) ?? bStar;
    if (other) out.set(op, uniq([...cs, ...other, ...(b.has(op) && bStar ? bStar : [])]));
  }
  for (const [op, cs] of b) {
    if (op === '*' || out.has(op)) continue;
    if (aStar) out.set(op, uniq([...cs, ...aStar]));
  }
  if (aStar && bStar) out.set('*', uniq([...aStar, ...bStar]));
  return out;
}

export interface KeyLineage {
  owner_party_id: string;
  /** present for result keys: the data_uuids they were computed from */
  ancestor_uuids?: string[];
}

/**
 * The original owners of a dataset: walks ancestors to the keys that owners
 * uploaded themselves. Bounded (visited set, 10 000 nodes) against cycles.
 */
export async function originalOwners(dataUuid: string, lookup: (uuid: string) => Promise<KeyLineage | undefined>): Promise<{ owners: string[]; missing: string[] }> {
  const owners = new Set<string>();
  const missing: string[] = [];
  const seen = new Set<string>();
  const queue = [dataUuid];
  while (queue.length && seen.size < 10_000) {
    const u = queue.shift()!;
    if (seen.has(u)) continue;
    seen.add(u);
    const l = await lookup(u);
    if (!l) missing.push(u);
    else if (l.ancestor_uuids && l.ancestor_uuids.length) queue.push(...l.ancestor_uuids);
    else owners.add(l.owner_party_id);
  }
  return { owners: [...owners].sort(), missing };
}
