// A safe evaluator for Trustflow's constraint expressions, e.g.
//   r.env.tee.platform=="tdx" && r.env.tee.tdx.mr_ta=="ab12.."
//   r.xgb.tree_num > 12 || r.op_name in ["PSI", "LR"]
// Hand-written lexer, recursive-descent parser and tree walker: no eval, no
// Function, no property access beyond own properties of plain JSON data, and
// every dimension is bounded (source length, tokens, nesting depth, evaluation
// steps, string growth), so hostile policies or requests cannot hang or escape.
//
// Semantics (fail closed): a missing field, a type mismatch or a non-boolean
// result is an evaluation error, and an error never counts as "true".
import { CmError } from '../errors.ts';

export const EXPRESSION_LIMITS = Object.freeze({
  maxSourceLength: 4096,
  maxTokens: 1024,
  maxDepth: 48,
  maxSteps: 20_000,
  maxStringLength: 4096,
  maxListLength: 256,
});

type Value = string | number | boolean | null | readonly Value[] | { readonly [k: string]: Value };

type Node =
  | { t: 'lit'; v: string | number | boolean | null }
  | { t: 'list'; items: Node[] }
  | { t: 'root' }
  | { t: 'member'; obj: Node; name: string }
  | { t: 'index'; obj: Node; index: Node }
  | { t: 'call'; fn: FnName; args: Node[] }
  | { t: 'unary'; op: '!' | '-'; arg: Node }
  | { t: 'binary'; op: BinOp; left: Node; right: Node };

type BinOp = '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | '+' | '-' | '*' | '/' | '%';
type FnName = 'len' | 'contains' | 'starts_with' | 'ends_with';
const FUNCTIONS: ReadonlySet<string> = new Set<FnName>(['len', 'contains', 'starts_with', 'ends_with']);
/** Names that are never looked up, even when a JSON object has them as own keys. */
const FORBIDDEN_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype', '__defineGetter__', '__lookupGetter__']);

type Tok = { k: 'num'; v: number; at: number } | { k: 'str'; v: string; at: number } | { k: 'id'; v: string; at: number } | { k: 'op'; v: string; at: number } | { k: 'eof'; at: number };

const OPS = ['||', '&&', '==', '!=', '<=', '>=', '<', '>', '!', '=', '+', '-', '*', '/', '%', '(', ')', '[', ']', '.', ','];

function invalid(msg: string): never {
  throw new CmError('INVALID_EXPRESSION', msg);
}

function tokenize(src: string): Tok[] {
  if (typeof src !== 'string') invalid('expression must be a string');
  if (src.length > EXPRESSION_LIMITS.maxSourceLength) throw new CmError('EXPRESSION_LIMIT', `expression longer than ${EXPRESSION_LIMITS.maxSourceLength} characters`);
  const toks: Tok[] = [];
  let i = 0;
  const push = (t: Tok) => {
    if (toks.length >= EXPRESSION_LIMITS.maxTokens) throw new CmError('EXPRESSION_LIMIT', `expression has more than ${EXPRESSION_LIMITS.maxTokens} tokens`);
    toks.push(t);
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const at = i;
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) invalid(`unterminated string at ${at}`);
        const d = src[i]!;
        if (d === c) break;
        if (d === '\\') {
          const e = src[i + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };
          if (e === undefined || !(e in map)) invalid(`bad escape at ${i}`);
          s += map[e];
          i += 2;
        } else {
          s += d;
          i++;
        }
        if (s.length > EXPRESSION_LIMITS.maxStringLength) throw new CmError('EXPRESSION_LIMIT', 'string literal too long');
      }
      i++;
      push({ k: 'str', v: s, at });
      continue;
    }
    if (c >= '0' && c <= '9') {
      const m = /^(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,15})?(?:[eE][+-]?[0-9]{1,3})?/.exec(src.slice(i, i + 40));
      if (!m) invalid(`bad number at ${i}`);
      const v = Number(m[0]);
      if (!Number.isFinite(v)) invalid(`number out of range at ${i}`);
      push({ k: 'num', v, at: i });
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]{0,127}/.exec(src.slice(i, i + 129))!;
      push({ k: 'id', v: m[0], at: i });
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) invalid(`unexpected character ${JSON.stringify(c)} at ${i}`);
    push({ k: 'op', v: op, at: i });
    i += op.length;
  }
  push({ k: 'eof', at: src.length });
  return toks;
}

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(): Tok {
    return this.toks[this.pos]!;
  }
  private isOp(v: string): boolean {
    const t = this.peek();
    return t.k === 'op' && t.v === v;
  }
  private isKeyword(v: string): boolean {
    const t = this.peek();
    return t.k === 'id' && t.v === v;
  }
  private expect(v: string): void {
    if (!this.isOp(v)) invalid(`expected "${v}" at ${this.peek().at}`);
    this.pos++;
  }
  private enter(): void {
    if (++this.depth > EXPRESSION_LIMITS.maxDepth) throw new CmError('EXPRESSION_LIMIT', `expression nested deeper than ${EXPRESSION_LIMITS.maxDepth}`);
  }

  parseAll(): Node {
    const n = this.expr();
    if (this.peek().k !== 'eof') invalid(`unexpected token at ${this.peek().at}`);
    return n;
  }

  private expr(): Node {
    this.enter();
    const n = this.or();
    this.depth--;
    return n;
  }
  private or(): Node {
    let l = this.and();
    while (this.isOp('||')) {
      this.pos++;
      l = { t: 'binary', op: '||', left: l, right: this.and() };
    }
    return l;
  }
  private and(): Node {
    let l = this.equality();
    while (this.isOp('&&')) {
      this.pos++;
      l = { t: 'binary', op: '&&', left: l, right: this.equality() };
    }
    return l;
  }
  private equality(): Node {
    let l = this.relational();
    for (;;) {
      const t = this.peek();
      // A single "=" means equality, as in the examples of secretflowapis v2.
      if (t.k === 'op' && (t.v === '==' || t.v === '!=' || t.v === '=')) {
        this.pos++;
        l = { t: 'binary', op: t.v === '!=' ? '!=' : '==', left: l, right: this.relational() };
      } else return l;
    }
  }
  private relational(): Node {
    let l = this.additive();
    for (;;) {
      const t = this.peek();
      if (t.k === 'op' && (t.v === '<' || t.v === '<=' || t.v === '>' || t.v === '>=')) {
        this.pos++;
        l = { t: 'binary', op: t.v, left: l, right: this.additive() };
      } else if (this.isKeyword('in')) {
        this.pos++;
        l = { t: 'binary', op: 'in', left: l, right: this.additive() };
      } else return l;
    }
  }
  private additive(): Node {
    let l = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (t.k === 'op' && (t.v === '+' || t.v === '-')) {
        this.pos++;
        l = { t: 'binary', op: t.v, left: l, right: this.multiplicative() };
      } else return l;
    }
  }
  private multiplicative(): Node {
    let l = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.k === 'op' && (t.v === '*' || t.v === '/' || t.v === '%')) {
        this.pos++;
        l = { t: 'binary', op: t.v, left: l, right: this.unary() };
      } else return l;
    }
  }
  private unary(): Node {
    const t = this.peek();
    if (t.k === 'op' && (t.v === '!' || t.v === '-')) {
      this.pos++;
      this.enter();
      const arg = this.unary();
      this.depth--;
      return { t: 'unary', op: t.v, arg };
    }
    return this.postfix();
  }
  private postfix(): Node {
    let n = this.primary();
    let chain = 0;
    for (;;) {
      if (++chain > EXPRESSION_LIMITS.maxDepth) throw new CmError('EXPRESSION_LIMIT', 'member chain too long');
      if (this.isOp('.')) {
        this.pos++;
        const id = this.peek();
        if (id.k !== 'id') invalid(`expected a field name at ${id.at}`);
        if (FORBIDDEN_NAMES.has(id.v)) invalid(`field name "${id.v}" is not allowed`);
        this.pos++;
        n = { t: 'member', obj: n, name: id.v };
      } else if (this.isOp('[')) {
        this.pos++;
        const index = this.expr();
        this.expect(']');
        n = { t: 'index', obj: n, index };
      } else return n;
    }
  }
  private primary(): Node {
    const t = this.peek();
    if (t.k === 'num' || t.k === 'str') {
      this.pos++;
      return { t: 'lit', v: t.v };
    }
    if (t.k === 'id') {
      this.pos++;
      if (t.v === 'true' || t.v === 'false') return { t: 'lit', v: t.v === 'true' };
      if (t.v === 'null') return { t: 'lit', v: null };
      if (t.v === 'r') return { t: 'root' };
      if (FUNCTIONS.has(t.v) && this.isOp('(')) {
        this.pos++;
        const args: Node[] = [];
        if (!this.isOp(')')) {
          do {
            if (args.length && this.isOp(',')) this.pos++;
            args.push(this.expr());
          } while (this.isOp(','));
        }
        this.expect(')');
        const arity: Record<FnName, number> = { len: 1, contains: 2, starts_with: 2, ends_with: 2 };
        if (args.length !== arity[t.v as FnName]) invalid(`${t.v}() takes ${arity[t.v as FnName]} argument(s)`);
        return { t: 'call', fn: t.v as FnName, args };
      }
      invalid(`unknown name "${t.v}" at ${t.at} (expressions start with r.)`);
    }
    if (t.k === 'op' && t.v === '(') {
      this.pos++;
      const n = this.expr();
      this.expect(')');
      return n;
    }
    if (t.k === 'op' && t.v === '[') {
      this.pos++;
      const items: Node[] = [];
      if (!this.isOp(']')) {
        items.push(this.expr());
        while (this.isOp(',')) {
          this.pos++;
          items.push(this.expr());
          if (items.length > EXPRESSION_LIMITS.maxListLength) throw new CmError('EXPRESSION_LIMIT', 'list literal too long');
        }
      }
      this.expect(']');
      return { t: 'list', items };
    }
    invalid(t.k === 'eof' ? 'unexpected end of expression' : `unexpected token at ${t.at}`);
  }
}

export interface CompiledExpression {
  readonly source: string;
  readonly ast: Node;
}

/** Parses and checks an expression; throws INVALID_EXPRESSION / EXPRESSION_LIMIT. */
export function compileExpression(source: string): CompiledExpression {
  return { source, ast: new Parser(tokenize(source)).parseAll() };
}

/** Thrown inside evaluation only; surfaces as a failed constraint with this reason. */
class EvalError extends Error {}

function pathOf(n: Node): string {
  switch (n.t) {
    case 'root':
      return 'r';
    case 'member':
      return `${pathOf(n.obj)}.${n.name}`;
    case 'index':
      return `${pathOf(n.obj)}[..]`;
    default:
      return 'value';
  }
}

function isPlainObject(v: unknown): v is Record<string, Value> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function typeName(v: Value): string {
  return v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v;
}

function isPrimitive(v: Value): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

function equal(a: Value, b: Value): boolean {
  if (isPrimitive(a) && isPrimitive(b)) return a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]!));
  throw new EvalError(`cannot compare ${typeName(a)} with ${typeName(b)}`);
}

class Evaluator {
  private steps = 0;
  constructor(private readonly root: Value) {}

  eval(n: Node): Value {
    if (++this.steps > EXPRESSION_LIMITS.maxSteps) throw new EvalError('evaluation step limit exceeded');
    switch (n.t) {
      case 'lit':
        return n.v;
      case 'root':
        return this.root;
      case 'list': {
        return n.items.map((i) => this.eval(i));
      }
      case 'member': {
        const o = this.eval(n.obj);
        if (!isPlainObject(o) || FORBIDDEN_NAMES.has(n.name) || !Object.hasOwn(o, n.name)) throw new EvalError(`${pathOf(n)} is not set`);
        return o[n.name]!;
      }
      case 'index': {
        const o = this.eval(n.obj);
        const i = this.eval(n.index);
        if (Array.isArray(o) && typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < o.length) return o[i]!;
        if (isPlainObject(o) && typeof i === 'string' && !FORBIDDEN_NAMES.has(i) && Object.hasOwn(o, i)) return o[i]!;
        throw new EvalError(`${pathOf(n)} is not set`);
      }
      case 'call':
        return this.call(n.fn, n.args.map((a) => this.eval(a)));
      case 'unary': {
        const v = this.eval(n.arg);
        if (n.op === '!') {
          if (typeof v !== 'boolean') throw new EvalError(`"!" needs a boolean, got ${typeName(v)}`);
          return !v;
        }
        if (typeof v !== 'number') throw new EvalError(`"-" needs a number, got ${typeName(v)}`);
        return -v;
      }
      case 'binary':
        return this.binary(n);
    }
  }

  private call(fn: FnName, a: Value[]): Value {
    const [x, y] = a as [Value, Value];
    switch (fn) {
      case 'len':
        if (typeof x === 'string' || Array.isArray(x)) return x.length;
        throw new EvalError(`len() needs a string or list, got ${typeName(x)}`);
      case 'contains':
        if (Array.isArray(x)) return x.some((e) => isPrimitive(e) && isPrimitive(y) && e === y);
        if (typeof x === 'string' && typeof y === 'string') return x.includes(y);
        throw new EvalError('contains() needs a list or two strings');
      case 'starts_with':
      case 'ends_with':
        if (typeof x !== 'string' || typeof y !== 'string') throw new EvalError(`${fn}() needs two strings`);
        return fn === 'starts_with' ? x.startsWith(y) : x.endsWith(y);
    }
  }

  private binary(n: Extract<Node, { t: 'binary' }>): Value {
    if (n.op === '&&' || n.op === '||') {
      const l = this.eval(n.left);
      if (typeof l !== 'boolean') throw new EvalError(`"${n.op}" needs booleans, got ${typeName(l)}`);
      if (n.op === '&&' ? !l : l) return l;
      const r = this.eval(n.right);
      if (typeof r !== 'boolean') throw new EvalError(`"${n.op}" needs booleans, got ${typeName(r)}`);
      return r;
    }
    const l = this.eval(n.left);
    const r = this.eval(n.right);
    switch (n.op) {
      case '==':
        return equal(l, r);
      case '!=':
        return !equal(l, r);
      case '<':
      case '<=':
      case '>':
      case '>=': {
        if (!((typeof l === 'number' && typeof r === 'number') || (typeof l === 'string' && typeof r === 'string')))
          throw new EvalError(`cannot order ${typeName(l)} and ${typeName(r)} (${pathOf(n.left)})`);
        return n.op === '<' ? l < r : n.op === '<=' ? l <= r : n.op === '>' ? l > r : l >= r;
      }
      case 'in':
        if (Array.isArray(r)) return r.some((e) => isPrimitive(e) && isPrimitive(l) && e === l);
        if (typeof r === 'string' && typeof l === 'string') return r.includes(l);
        throw new EvalError(`"in" needs a list or a string on the right, got ${typeName(r)}`);
      case '+':
      case '-':
      case '*':
      case '/':
      case '%': {
        if (n.op === '+' && typeof l === 'string' && typeof r === 'string') {
          if (l.length + r.length > EXPRESSION_LIMITS.maxStringLength) throw new EvalError('string too long');
          return l + r;
        }
        if (typeof l !== 'number' || typeof r !== 'number') throw new EvalError(`"${n.op}" needs numbers, got ${typeName(l)} and ${typeName(r)}`);
        const v = n.op === '+' ? l + r : n.op === '-' ? l - r : n.op === '*' ? l * r : n.op === '/' ? l / r : l % r;
        if (!Number.isFinite(v)) throw new EvalError(`arithmetic result is not finite`);
        return v;
      }
    }
  }
}

export type EvalOutcome = { ok: true; value: boolean } | { ok: false; error: string };

/**
 * Evaluates a compiled expression over `r` (plain JSON data). Never throws for
 * data-dependent problems: they come back as { ok: false, error }.
 */
export function evaluateExpression(expr: CompiledExpression, r: unknown): EvalOutcome {
  try {
    const v = new Evaluator(r as Value).eval(expr.ast);
    if (typeof v !== 'boolean') return { ok: false, error: `expression yields ${typeName(v)}, not a boolean` };
    return { ok: true, value: v };
  } catch (e) {
    if (e instanceof EvalError) return { ok: false, error: e.message };
    if (e instanceof RangeError) return { ok: false, error: 'expression too complex' };
    throw e;
  }
}

const cache = new Map<string, CompiledExpression>();
/** compileExpression with a bounded cache: policies are evaluated far more often than written. */
export function compileCached(source: string): CompiledExpression {
  let c = cache.get(source);
  if (!c) {
    c = compileExpression(source);
    if (cache.size >= 1024) cache.delete(cache.keys().next().value!);
    cache.set(source, c);
  }
  return c;
}
