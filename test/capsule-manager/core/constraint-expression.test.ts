import t from 'tap';
import { compileExpression, evaluateExpression, EXPRESSION_LIMITS } from '../../../capsule-manager/core/constraint-expression.ts';

const r = {
  resource_uri: 'd1/p1',
  columns: ['a', 'b'],
  initiator_party_id: 'BOB',
  scope: 'default',
  op_name: 'PSI',
  env: { request_time: '2026-01-02T00:00:00Z', tee: { platform: 'tdx', tdx: { mr_ta: 'ab12' } } },
  attrs: { xgb: { tree_num: 14 } },
  global_attrs: {},
};
const ev = (src: string, data: unknown = r) => evaluateExpression(compileExpression(src), data);
const yes = (src: string) => t.same(ev(src), { ok: true, value: true }, src);
const no = (src: string) => t.same(ev(src), { ok: true, value: false }, src);
const err = (src: string, re: RegExp) => {
  const out = ev(src);
  t.equal(out.ok, false, `${src} errors`);
  if (!out.ok) t.match(out.error, re);
};
const rejects = (src: string, re: RegExp) => t.throws(() => compileExpression(src), re, `${src.slice(0, 40)} rejected`);

t.test('trustflow example and each operator', async () => {
  yes('r.env.tee.platform=="tdx" && r.env.tee.tdx.mr_ta=="ab12"');
  no('r.env.tee.platform=="sgx" && r.env.tee.tdx.mr_ta=="ab12"');
  yes('r.env.tee.platform="tdx"'); // single "=" is equality (secretflowapis examples)
  yes('r.op_name != "LR"');
  no('r.op_name != "PSI"');
  yes('r.attrs.xgb.tree_num > 12');
  no('r.attrs.xgb.tree_num < 12');
  yes('r.attrs.xgb.tree_num >= 14');
  yes('r.attrs.xgb.tree_num <= 14');
  no('r.attrs.xgb.tree_num <= 13');
  yes('r.env.request_time < "2026-07-22"');
  yes('r.op_name == "LR" || r.op_name == "PSI"');
  no('r.op_name == "LR" || r.op_name == "XGB"');
  yes('!(r.op_name == "LR")');
  yes('r.attrs.xgb.tree_num + 1 == 15');
  yes('r.attrs.xgb.tree_num - 4 == 10');
  yes('r.attrs.xgb.tree_num * 2 == 28');
  yes('r.attrs.xgb.tree_num / 2 == 7');
  yes('r.attrs.xgb.tree_num % 4 == 2');
  yes('-r.attrs.xgb.tree_num == -14');
  yes('r.op_name in ["PSI", "LR"]');
  no('r.op_name in ["XGB"]');
  yes('"a" in r.columns');
  yes('"SI" in r.op_name');
  yes('r.columns[1] == "b"');
  yes('r.columns == ["a", "b"]');
  yes('r.env["tee"].platform == "tdx"');
  yes('len(r.columns) == 2 && len("abc") == 3');
  yes('contains(r.columns, "a") && contains(r.resource_uri, "p1")');
  yes('starts_with(r.resource_uri, "d1/") && ends_with(r.resource_uri, "/p1")');
  yes('"x" + "y" == "xy"');
  yes("r.op_name == 'PSI'");
  yes('r.attrs.xgb.tree_num > 1.5e1 - 2');
  yes('true && !false && null == null');
  yes('(r.op_name == "PSI") == true');
});

t.test('fail closed on missing fields and type errors', async () => {
  err('r.env.tee.sgx.mr_enclave == "x"', /r\.env\.tee\.sgx is not set/);
  err('r.nope', /r\.nope is not set/);
  err('r.columns[5] == "a"', /not set/);
  err('r.op_name > 3', /cannot order/);
  err('r.op_name && true', /needs booleans/);
  err('!r.op_name', /needs a boolean/);
  err('r.op_name', /not a boolean/);
  err('r.env == r.env', /cannot compare/);
  err('r.attrs.xgb.tree_num / 0 == 1', /not finite/);
  err('r.op_name - 1 == 0', /needs numbers/);
  err('len(3) == 1', /len\(\) needs/);
  err('3 in 4', /"in" needs/);
});

t.test('hostile input: no prototype access, no code execution', async () => {
  rejects('r.__proto__.polluted == 1', /not allowed/);
  rejects('r.constructor.name == "Object"', /not allowed/);
  rejects('r.prototype', /not allowed/);
  err('r["__proto__"] == null', /not set/);
  err('r["constructor"] == null', /not set/);
  err('r.columns["length"] == 2', /not set/);
  err('r.op_name["length"] == 3', /not set/);
  err('r.toString == null', /not set/);
  err('r.hasOwnProperty == null', /not set/);
  // A JSON object that really has "__proto__" as an own key is still never read.
  const hostile = JSON.parse('{"__proto__": {"x": true}, "a": 1}');
  t.equal(ev('r["__proto__"].x', hostile).ok, false);
  rejects('process.exit(1)', /unknown name "process"/);
  rejects('require("fs")', /unknown name "require"/);
  rejects('globalThis', /unknown name/);
  rejects('eval("1")', /unknown name "eval"/);
  rejects('r.a; r.b', /unexpected character/);
  rejects('r.a = `x`', /unexpected character/);
  rejects('(r.a', /expected "\)"/);
  rejects('"unterminated', /unterminated/);
  rejects('"bad \\x escape"', /bad escape/);
  rejects('', /unexpected end/);
  rejects('len(1, 2)', /takes 1/);
  rejects('1e999 == 1', /bad number|out of range|unexpected/);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
});

t.test('bounded size, depth and time', async () => {
  rejects('r.a == "' + 'x'.repeat(EXPRESSION_LIMITS.maxSourceLength) + '"', /longer than/);
  rejects('('.repeat(200) + 'true' + ')'.repeat(200), /nested deeper/);
  rejects('!'.repeat(200) + 'true', /nested deeper/);
  rejects(Array(600).fill('1').join('+') + ' == 1', /more than .* tokens/);
  rejects('r' + '.a'.repeat(100), /member chain too long/);
  // A wide expression within the token limit evaluates fast.
  const wide = Array(150).fill('r.op_name == "PSI"').join(' && ');
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) t.equal(ev(wide).ok, true);
  t.ok(performance.now() - t0 < 2000, 'evaluation is fast');
  // A string that would grow without bound is stopped.
  const grow = Array(200).fill('r.resource_uri').join(' + ') + ' == ""';
  const big = { resource_uri: 'x'.repeat(1000) };
  t.match(ev(grow, big), { ok: false, error: /string too long/ });
});
