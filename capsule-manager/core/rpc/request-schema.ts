// Request bodies checked against an RPC's TypeBox schema; the first problem
// becomes INVALID_REQUEST in the words the CM has always used ("x is
// required", "x must be a string", "x must be a list"), so clients and logs
// read the same whatever the field.
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { ValueError } from '@sinclair/typebox/value';
import { CmError } from '../../errors.ts';

/** A required, non-empty string. */
export const REQUIRED_MIN = 1;

function field(e: ValueError): string {
  const parts = e.path.split('/').filter(Boolean);
  return parts.filter((p) => !/^\d+$/.test(p)).at(-1) ?? 'request';
}

function describe(e: ValueError): string {
  const s = e.schema as { type?: string; minLength?: number };
  const name = field(e);
  if (e.value === undefined || (s.type === 'string' && s.minLength && e.value === '')) return `${name} is required`;
  if (s.type === 'string') return `${name} must be a string`;
  if (s.type === 'array') return `${name} must be a list`;
  if (s.type === 'object') return `${name} must be an object`;
  if (s.type === 'boolean') return `${name} must be a boolean`;
  if (s.type === 'integer' || s.type === 'number') return `${name} must be a number`;
  return `${name}: ${e.message}`;
}

/** Compiled checkers by schema: Value.Errors interprets the schema on every call (~5% of a key release). */
const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerOf(schema: TSchema): TypeCheck<TSchema> {
  let c = compiled.get(schema);
  if (!c) compiled.set(schema, (c = TypeCompiler.Compile(schema)));
  return c;
}

/** The body as the schema types it; throws INVALID_REQUEST at the first problem. */
export function checkRequest<T>(schema: TSchema, body: unknown): T {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new CmError('INVALID_REQUEST', 'request must be an object');
  const check = checkerOf(schema);
  if (check.Check(body)) return body as T;
  const first = check.Errors(body).First();
  throw new CmError('INVALID_REQUEST', first ? describe(first) : 'request does not match its schema');
}
