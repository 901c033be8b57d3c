// Decides whether a request may use one resource under its policy: ANY rule
// matches when the initiator is a grantee, the op is listed (or "*"), the
// requested columns are granted (or "*") and every constraint holds.
//
// A denial lists, per rule, which condition failed. What it may say is bounded
// so that a requester learns nothing about rules written for others: rules
// that do not name the initiator are not mentioned at all (not even their ids);
// when none names it the reason is "initiator is not a grantee of any rule".
// Grantee lists, other parties' ids and keys are never echoed. For a rule that
// does name the initiator, the failed condition is explained (the owner wrote
// that rule for this party).
import { compileCached, evaluateExpression } from './constraint-expression.ts';
import type { Policy, Rule } from './model.ts';

/** The request as constraint expressions see it (r). */
export interface RequestView {
  resource_uri: string;
  columns: string[];
  initiator_party_id: string;
  scope: string;
  op_name: string;
  env: { request_time: string; tee: Record<string, unknown>; [k: string]: unknown };
  attrs: Record<string, unknown>;
  global_attrs: Record<string, unknown>;
}

export interface RuleDecision {
  allowed: boolean;
  ruleId?: string;
  /** Human-readable failed conditions, e.g. 'rule r1: constraint "r.env.tee.platform==\"tdx\"" is false'. */
  reasons: string[];
}

function checkConstraints(kind: string, list: string[], r: RequestView): string[] {
  const failures: string[] = [];
  for (const src of list) {
    const out = evaluateExpression(compileCached(src), r);
    if (!out.ok) failures.push(`${kind} ${JSON.stringify(src)} could not be evaluated: ${out.error}`);
    else if (!out.value) failures.push(`${kind} ${JSON.stringify(src)} is false`);
  }
  return failures;
}

function ruleFailures(rule: Rule, r: RequestView): string[] {
  if (!rule.grantee_party_ids.includes(r.initiator_party_id)) return ['initiator is not a grantee'];
  const failures: string[] = [];
  if (!rule.columns.includes('*')) {
    const missing = r.columns.filter((c) => !rule.columns.includes(c));
    if (missing.length) failures.push(`columns not granted: ${missing.map((c) => JSON.stringify(c)).join(', ')}`);
  }
  const ops = rule.op_constraints.filter((o) => o.op_name === r.op_name || o.op_name === '*');
  if (ops.length === 0) failures.push(`op ${JSON.stringify(r.op_name)} is not allowed`);
  else {
    // Several entries may match (a specific one and "*"): one that holds is enough.
    const perOp = ops.map((o) => checkConstraints(`op constraint (${o.op_name})`, o.constraints, r));
    if (!perOp.some((f) => f.length === 0)) failures.push(...perOp.flat());
  }
  failures.push(...checkConstraints('global constraint', rule.global_constraints, r));
  return failures;
}

export function evaluatePolicy(policy: Policy | undefined, r: RequestView): RuleDecision {
  if (!policy || policy.rules.length === 0) return { allowed: false, reasons: [`no policy for ${r.resource_uri.split('/')[0]} in scope ${JSON.stringify(r.scope)}`] };
  const reasons: string[] = [];
  for (const rule of policy.rules) {
    const f = ruleFailures(rule, r);
    if (f.length === 0) return { allowed: true, ruleId: rule.rule_id, reasons: [] };
    // Rules that do not name the initiator stay anonymous (not even their ids).
    if (rule.grantee_party_ids.includes(r.initiator_party_id)) reasons.push(...f.map((x) => `rule ${rule.rule_id}: ${x}`));
  }
  if (reasons.length === 0) reasons.push('initiator is not a grantee of any rule');
  return { allowed: false, reasons };
}
