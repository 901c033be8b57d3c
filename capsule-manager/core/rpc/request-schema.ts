// Request bodies checked against an RPC's TypeBox schema; the first problem
// becomes INVALID_REQUEST in the words the CM has always used ("x is
// required", "x must be a string", "x must be a list"), so clients and logs
// read the same whatever the field.
import type { TSchema } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
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

/** The body as the schema types it; throws INVALID_REQUEST at the first problem. */
export function checkRequest<T>(schema: TSchema, body: unknown): T {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new CmError('INVALID_REQUEST', 'request must be an object');
  const first = Value.Errors(schema, body).First();
  if (first) throw new CmError('INVALID_REQUEST', describe(first));
  return body as T;
}
