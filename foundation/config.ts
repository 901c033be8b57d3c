// Config loading: YAML or JSON (file or object) validated against a TypeBox
// schema with defaults applied; every error is reported at once.
import { readFileSync } from 'node:fs';
import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { defineErrors } from './errors.ts';

export const ConfigError = defineErrors('config', {
  CONFIG_UNREADABLE: 'invalid_argument',
  CONFIG_PARSE: 'invalid_argument',
  CONFIG_INVALID: 'invalid_argument',
});
export type ConfigError = InstanceType<typeof ConfigError>;

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** One shared validator instance: schemas compile once and are cached by identity. */
export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, strict: false });
  addFormats(ajv);
  return ajv;
}
const ajv = createAjv();
const compiled = new WeakMap<TSchema, ReturnType<Ajv['compile']>>();

export function formatAjvErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const where = e.instancePath || '/';
    if (e.keyword === 'additionalProperties') return `${where}: unknown property "${String(e.params.additionalProperty)}"`;
    if (e.keyword === 'required') return `${where}: missing required property "${String(e.params.missingProperty)}"`;
    return `${where}: ${e.message ?? e.keyword}`;
  });
}

/** Validates (and fills defaults into a copy of) `input`; throws CONFIG_INVALID listing every error. */
export function validateConfig<S extends TSchema>(schema: S, input: unknown, what = 'config'): Static<S> {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  const copy = structuredClone(input ?? {});
  if (!validate(copy)) {
    const errs = formatAjvErrors(validate.errors);
    throw new ConfigError('CONFIG_INVALID', `${what} is invalid (${errs.length} error${errs.length === 1 ? '' : 's'}):\n  - ${errs.join('\n  - ')}`, {
      details: { errors: errs },
    });
  }
  return copy as Static<S>;
}

export function parseConfigText(text: string, what: string): unknown {
  try {
    return parseYaml(text) ?? {};
  } catch (cause) {
    throw new ConfigError('CONFIG_PARSE', `${what}: not valid YAML/JSON: ${(cause as Error).message}`, { cause });
  }
}

/** Reads a YAML/JSON file and validates it. */
export function loadConfigFile<S extends TSchema>(schema: S, path: string): Static<S> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read config file ${path}: ${(cause as Error).message}`, { cause });
  }
  return validateConfig(schema, parseConfigText(text, path), path);
}
