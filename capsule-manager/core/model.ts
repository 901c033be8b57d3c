// The capsule manager's data model, in the snake_case JSON shape of
// secretflowapis v2 (what clients send and what is stored). Pure types and
// validation; the transport layer maps proto messages to these.
import { CmError } from '../errors.ts';
import { compileExpression } from './constraint-expression.ts';

export interface OpConstraint {
  op_name: string;
  constraints: string[];
}

export interface Rule {
  rule_id: string;
  grantee_party_ids: string[];
  op_constraints: OpConstraint[];
  columns: string[];
  global_constraints: string[];
}

export interface Policy {
  data_uuid: string;
  rules: Rule[];
}

export interface ResourceSpec {
  resource_uri: string;
  columns: string[];
  /** JSON object text */
  attrs: string;
}

export interface ResourceRequest {
  initiator_party_id: string;
  scope: string;
  op_name: string;
  resources: ResourceSpec[];
  env: string;
  global_attrs: string;
}

export const DEFAULT_SCOPE = 'default';
export const scopeOf = (s: string | undefined): string => (s && s.length ? s : DEFAULT_SCOPE);

const SEGMENT = /^[A-Za-z0-9._~:@+=-]{1,256}$/;

/** resource_uri = data_uuid[/partition[/segment[/shard]]]; returns the segments. */
export function parseResourceUri(uri: string): { dataUuid: string; segments: string[] } {
  if (typeof uri !== 'string' || uri.length === 0 || uri.length > 1024) throw new CmError('INVALID_REQUEST', 'resource_uri must be 1..1024 characters');
  const segments = uri.split('/');
  if (segments.length > 4) throw new CmError('INVALID_REQUEST', `resource_uri "${uri}" has more than 4 segments`);
  for (const s of segments) if (!SEGMENT.test(s) || s === '.' || s === '..') throw new CmError('INVALID_REQUEST', `resource_uri "${uri}" has an invalid segment`);
  return { dataUuid: segments[0]!, segments };
}

export function checkDataUuid(uuid: string): void {
  if (typeof uuid !== 'string' || !SEGMENT.test(uuid)) throw new CmError('INVALID_REQUEST', 'data_uuid must be 1..256 characters of [A-Za-z0-9._~:@+=-]');
}

export function checkScope(scope: string): void {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(scope)) throw new CmError('INVALID_REQUEST', 'scope must be 1..128 characters of [A-Za-z0-9._-]');
}

/** An optional list from client JSON: anything but an array is a bad request (`.map` of an object was a TypeError). */
function list(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new CmError('INVALID_REQUEST', `${what} must be a list`);
  if (v.length > 1024) throw new CmError('INVALID_REQUEST', `${what} has too many entries`);
  return v;
}

/** Validates a rule (every constraint must parse) and returns a normalized copy. */
export function normalizeRule(rule: Partial<Rule> | undefined): Rule {
  if (!rule || typeof rule !== 'object') throw new CmError('INVALID_REQUEST', 'rule is required');
  const strs = (v: unknown, what: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new CmError('INVALID_REQUEST', `${what} must be a list of strings`);
    if (v.length > 1024) throw new CmError('INVALID_REQUEST', `${what} has too many entries`);
    return [...v];
  };
  if (typeof rule.rule_id !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(rule.rule_id)) throw new CmError('INVALID_REQUEST', 'rule_id must be 1..128 characters of [A-Za-z0-9._:-]');
  const out: Rule = {
    rule_id: rule.rule_id,
    grantee_party_ids: strs(rule.grantee_party_ids, 'grantee_party_ids'),
    columns: strs(rule.columns, 'columns'),
    global_constraints: strs(rule.global_constraints, 'global_constraints'),
    op_constraints: list(rule.op_constraints, 'op_constraints').map((x) => {
      const o = x as Partial<OpConstraint> | undefined;
      if (!o || typeof o.op_name !== 'string' || o.op_name.length === 0) throw new CmError('INVALID_REQUEST', 'op_constraints[].op_name is required');
      return { op_name: o.op_name, constraints: strs(o.constraints, 'op_constraints[].constraints') };
    }),
  };
  for (const c of [...out.global_constraints, ...out.op_constraints.flatMap((o) => o.constraints)]) {
    try {
      compileExpression(c);
    } catch (e) {
      throw new CmError('INVALID_EXPRESSION', `rule ${out.rule_id}: constraint ${JSON.stringify(c.slice(0, 200))}: ${(e as Error).message}`);
    }
  }
  return out;
}

export function normalizePolicy(p: Partial<Policy> | undefined): Policy {
  if (!p || typeof p !== 'object') throw new CmError('INVALID_REQUEST', 'policy is required');
  checkDataUuid(p.data_uuid as string);
  const rules = list(p.rules, 'policy.rules').map((r) => normalizeRule(r as Partial<Rule> | undefined));
  const ids = new Set<string>();
  for (const r of rules) {
    if (ids.has(r.rule_id)) throw new CmError('INVALID_REQUEST', `duplicate rule_id ${r.rule_id}`);
    ids.add(r.rule_id);
  }
  return { data_uuid: p.data_uuid!, rules };
}

/** Parses a JSON-object text field ("" means {}); anything else is a bad request. */
export function parseJsonObject(text: string | undefined, what: string): Record<string, unknown> {
  if (!text) return {};
  if (text.length > 64 * 1024) throw new CmError('INVALID_REQUEST', `${what} is larger than 64 KiB`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CmError('INVALID_REQUEST', `${what} is not valid JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new CmError('INVALID_REQUEST', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}
