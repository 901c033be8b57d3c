// Fuzzing the capsule manager's constraint expressions: random source text
// (token soup, grammar-shaped expressions, arbitrary characters), random request
// objects `r` (any JSON, null-prototype objects, odd keys), and pathological
// sizes. Properties: compile returns an expression or a CmError
// (INVALID_EXPRESSION / EXPRESSION_LIMIT); evaluation never throws and returns
// {ok, value: boolean} or {ok: false, error}; both finish quickly; literal-only
// expressions evaluate to what a reference evaluator in this file computes.
import t from 'tap';
import { compileExpression, evaluateExpression, EXPRESSION_LIMITS } from '../../capsule-manager/core/constraint-expression.ts';
import { evaluatePolicy, type RequestView } from '../../capsule-manager/core/policy-evaluation.ts';
import { normalizePolicy } from '../../capsule-manager/core/model.ts';
import { CmError } from '../../capsule-manager/errors.ts';
import { checkProperty, expectTyped, fc, fuzzSettings, selected } from './fuzz-config.ts';
import { hostileJson, hostileKey } from './mutations.ts';

/** Generous bound for one compile + evaluate on a shared two-core machine. */
const MAX_MS = 500;

const TOKENS = ['r', '.', '[', ']', '(', ')', ',', '==', '=', '!=', '<', '<=', '>', '>=', '&&', '||', '!', '-', '+', '*', '/', '%', 'in', 'len', 'contains', 'starts_with', 'ends_with', 'true', 'false', 'null', '"x"', "'y'", '"', '0', '1.5', '1e3', '007', 'a', 'env', 'tee', 'op_name', '__proto__', 'constructor', '\\'];
const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).chain((ts) => fc.constantFrom(ts.join(' '), ts.join('')));

const name = fc.oneof(fc.constantFrom('a', 'b', 'op_name', 'env', 'tee', 'platform', 'columns', 'length', 'x_1'), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/));
const strLit = fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s));
const expression: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.integer({ min: -1000, max: 1000 }).map(String), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map(String), strLit, fc.constantFrom('true', 'false', 'null')),
    fc.array(name, { maxLength: 4 }).map((p) => ['r', ...p].join('.')),
    fc.tuple(tie('e'), tie('e')).map(([a, b]) => `${a}[${b}]`),
    fc.tuple(fc.constantFrom('!', '-'), tie('e')).map(([o, a]) => `${o}${a}`),
    fc.tuple(tie('e'), fc.constantFrom('==', '=', '!=', '<', '<=', '>', '>=', '&&', '||', 'in', '+', '-', '*', '/', '%'), tie('e')).map(([a, o, b]) => `(${a} ${o} ${b})`),
    fc.tuple(fc.constantFrom('len', 'contains', 'starts_with', 'ends_with'), fc.array(tie('e'), { maxLength: 3 })).map(([f, args]) => `${f}(${args.join(', ')})`),
    fc.array(tie('e'), { maxLength: 4 }).map((xs) => `[${xs.join(', ')}]`),
  ),
})).e;

const source = fc.oneof(expression, tokenSoup, fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 30 }));

/** A request object as a policy sees it, with arbitrary (and hostile) content in every field. */
const request = fc.oneof(
  hostileJson,
  fc.record({
    op_name: fc.oneof(fc.constantFrom('PSI', 'LR'), hostileJson),
    columns: fc.oneof(fc.array(fc.string({ maxLength: 4 }), { maxLength: 4 }), hostileJson),
    a: hostileJson,
    b: hostileJson,
    env: fc.oneof(fc.record({ tee: fc.oneof(fc.record({ platform: fc.constantFrom('tdx', 'sim') }), hostileJson) }), hostileJson),
  }, { requiredKeys: [] }),
  fc.anything({ maxDepth: 3, withNullPrototype: true, withObjectString: true, withBoxedValues: true, withMap: true, withSet: true, withTypedArray: true, withDate: true, withSparseArray: true, withBigInt: true, key: hostileKey }),
);

function compileOrTyped(src: string) {
  try {
    return compileExpression(src);
  } catch (e) {
    expectTyped(e, CmError);
    if (!CmError.is(e, 'INVALID_EXPRESSION') && !CmError.is(e, 'EXPRESSION_LIMIT')) throw new Error(`compile failed with ${(e as CmError).code}`);
    return undefined;
  }
}

function checkOutcome(out: unknown): void {
  const o = out as { ok?: unknown; value?: unknown; error?: unknown };
  if (o.ok === true && typeof o.value === 'boolean') return;
  if (o.ok === false && typeof o.error === 'string') return;
  throw new Error(`evaluate returned ${JSON.stringify(out)}`);
}

t.test('compile and evaluate arbitrary expressions over arbitrary requests', async (t) => {
  await checkProperty(t, 'compile arbitrary source', [source], (src) => {
    compileOrTyped(src);
  }, { runs: 3000, maxRunMs: MAX_MS });

  let compiled = 0;
  let evaluatedOk = 0;
  await checkProperty(t, 'evaluate never throws', [expression, request], (src, r) => {
    const c = compileOrTyped(src);
    if (!c) return;
    compiled++;
    const out = evaluateExpression(c, r);
    checkOutcome(out);
    if (out.ok) evaluatedOk++;
  }, { runs: 3000, maxRunMs: MAX_MS });
  // The grammar is meant to produce mostly valid expressions, some of which evaluate
  // (checked when enough runs were made to say so).
  const runs = fuzzSettings('evaluate never throws', 3000).numRuns;
  if (selected('evaluate never throws') && runs >= 500) t.ok(compiled > runs / 3 && evaluatedOk > runs / 100, `grammar not vacuous: ${compiled} compiled, ${evaluatedOk} evaluated to a boolean`);
});

// A reference for literal-only integer/boolean expressions: the evaluator must agree.
type Lit = { src: string; v: number | boolean };
const intExpr: fc.Arbitrary<Lit> = fc.letrec<{ n: Lit }>((tie) => ({
  n: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: 0, max: 50 }).map((v) => ({ src: String(v), v })),
    tie('n').map((a) => ({ src: `-(${a.src})`, v: -(a.v as number) })),
    fc.tuple(tie('n'), fc.constantFrom('+', '-', '*'), tie('n')).map(([a, o, b]) => ({ src: `(${a.src} ${o} ${b.src})`, v: o === '+' ? (a.v as number) + (b.v as number) : o === '-' ? (a.v as number) - (b.v as number) : (a.v as number) * (b.v as number) })),
  ),
})).n;
const boolExpr: fc.Arbitrary<Lit> = fc.letrec<{ b: Lit }>((tie) => ({
  b: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.boolean().map((v) => ({ src: String(v), v })),
    fc.tuple(intExpr, fc.constantFrom('==', '!=', '<', '<=', '>', '>='), intExpr).map(([a, o, b]) => {
      const x = a.v as number;
      const y = b.v as number;
      return { src: `(${a.src} ${o} ${b.src})`, v: o === '==' ? x === y : o === '!=' ? x !== y : o === '<' ? x < y : o === '<=' ? x <= y : o === '>' ? x > y : x >= y };
    }),
    tie('b').map((a) => ({ src: `!(${a.src})`, v: !a.v })),
    fc.tuple(tie('b'), fc.constantFrom('&&', '||'), tie('b')).map(([a, o, b]) => ({ src: `(${a.src} ${o} ${b.src})`, v: o === '&&' ? (a.v as boolean) && (b.v as boolean) : (a.v as boolean) || (b.v as boolean) })),
  ),
})).b;

t.test('literal expressions evaluate as a reference evaluator says (the evaluator is not vacuous)', async (t) => {
  await checkProperty(t, 'reference agreement', [boolExpr], ({ src, v }) => {
    const out = evaluateExpression(compileExpression(src), {});
    if (!out.ok || out.value !== v) throw new Error(`${src}: expected ${v}, got ${JSON.stringify(out)}`);
  }, { runs: 1000, maxRunMs: MAX_MS });
});

t.test('pathological sizes terminate quickly with a typed error or an outcome', async (t) => {
  const shapes = fc.record({
    n: fc.integer({ min: 1, max: 6000 }),
    shape: fc.constantFrom(
      (n: number) => `${'('.repeat(n)}1${')'.repeat(n)} == 1`,
      (n: number) => `${'!'.repeat(n)}true`,
      (n: number) => `${'-'.repeat(n)}1 == 1`,
      (n: number) => `r${'.a'.repeat(n)} == 1`,
      (n: number) => `r${'[0]'.repeat(n)} == 1`,
      (n: number) => `${Array(n).fill('1').join('+')} > 0`,
      (n: number) => `${Array(n).fill('"ab"').join(' + ')} == ""`,
      (n: number) => `[${Array(n).fill('[1]').join(',')}] == []`,
      (n: number) => `len(${'['.repeat(n)}${']'.repeat(n)}) == 1`,
      (n: number) => `"${'x'.repeat(n)}" in r.a`,
      (n: number) => `${Array(n).fill('true').join(' && ')}`,
      (n: number) => `${Array(Math.min(n, 200)).fill('(r.a + r.a)').join(' + ')} == ""`,
    ),
  });
  // r.a is a long string, so string growth is what gets bounded.
  const deep = { a: 'y'.repeat(EXPRESSION_LIMITS.maxStringLength) };
  await checkProperty(t, 'pathological expressions', [shapes], ({ n, shape }) => {
    const c = compileOrTyped(shape(n));
    if (c) checkOutcome(evaluateExpression(c, deep));
  }, { runs: 300, maxRunMs: MAX_MS });
});

t.test('policy evaluation over arbitrary normalized policies and views', async (t) => {
  const ruleArb = fc.record({
    rule_id: fc.stringMatching(/^[A-Za-z0-9._:-]{1,8}$/),
    grantee_party_ids: fc.array(fc.constantFrom('BOB', 'ALICE', ''), { maxLength: 3 }),
    columns: fc.array(fc.constantFrom('*', 'a', 'b'), { maxLength: 3 }),
    op_constraints: fc.array(fc.record({ op_name: fc.constantFrom('PSI', '*', 'LR'), constraints: fc.array(expression, { maxLength: 2 }) }), { maxLength: 2 }),
    global_constraints: fc.array(expression, { maxLength: 2 }),
  });
  const viewArb = fc.record({
    resource_uri: fc.constantFrom('d1', 'd1/p', ''),
    columns: fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 }),
    initiator_party_id: fc.constantFrom('BOB', 'ALICE'),
    scope: fc.constant('default'),
    op_name: fc.constantFrom('PSI', 'LR', 'XGB'),
    env: fc.record({ request_time: fc.constant('2026-01-01T00:00:00Z'), tee: fc.oneof(fc.record({ platform: fc.constantFrom('tdx', 'sim', 'none') }), fc.dictionary(hostileKey, hostileJson, { maxKeys: 3 })) }),
    attrs: fc.dictionary(hostileKey, hostileJson, { maxKeys: 3 }),
    global_attrs: fc.dictionary(hostileKey, hostileJson, { maxKeys: 3 }),
  });
  await checkProperty(t, 'evaluatePolicy never throws', [fc.array(ruleArb, { maxLength: 3 }), viewArb], (rules, view) => {
    let policy;
    try {
      policy = normalizePolicy({ data_uuid: 'd1', rules });
    } catch (e) {
      expectTyped(e, CmError);
      return;
    }
    const d = evaluatePolicy(policy, view as RequestView);
    if (typeof d.allowed !== 'boolean' || !Array.isArray(d.reasons) || (d.allowed && d.reasons.length !== 0) || (!d.allowed && d.reasons.length === 0)) throw new Error(`bad decision ${JSON.stringify(d)}`);
    // A rule that does not name the initiator never shows up in the reasons
    // (rule ids have no spaces, so "rule <id>: " names exactly one rule).
    for (const r of policy.rules) if (!r.grantee_party_ids.includes(view.initiator_party_id) && d.reasons.some((x) => x.startsWith(`rule ${r.rule_id}: `))) throw new Error(`rule ${r.rule_id} leaked into the reasons`);
  }, { runs: 800, maxRunMs: MAX_MS });
});
