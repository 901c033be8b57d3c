// Renders docs/configuration.md from the config schemas themselves, so the
// reference cannot drift from what the services accept. `--check` exits 1 when
// the committed file is stale (the test runs it); no flag rewrites it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { PROJECT_ROOT } from '../foundation/project-root.ts';
import { ControlPlaneConfig } from '../control-plane/index.ts';
import { AppConfig } from '../control-plane/index.ts';
import { OnlineConfig } from '../control-plane/index.ts';
import { InteractConfig } from '../control-plane/index.ts';
import { RouteConfig } from '../control-plane/index.ts';
import { ExtProcConfigSchema } from '../ext-proc/index.ts';
import { ExtAuthzConfigSchema } from '../ext-authz/index.ts';
import { RaProxyConfigSchema } from '../ra-proxy/index.ts';
import { CapsuleManagerConfigSchema } from '../capsule-manager/index.ts';
import { OwnerConfigSchema } from '../capsule-manager/index.ts';
import { DcpConfigSchema } from '../data-capsule-proxy/index.ts';

/** Every schema documented, in reading order (explicit list). */
export const SECTIONS: ReadonlyArray<{ title: string; command: string; schema: TSchema }> = [
  { title: 'Control plane', command: 'aenv control-plane --config <file>', schema: ControlPlaneConfig },
  { title: 'App config (control plane input)', command: 'PUT /v1/app-config, or `app:` in the control-plane config', schema: AppConfig },
  { title: 'Plugin `online`', command: 'plugins[].config with plugin: online', schema: OnlineConfig },
  { title: 'Plugin `interact`', command: 'plugins[].config with plugin: interact', schema: InteractConfig },
  { title: 'Plugin `route`', command: 'plugins[].config with plugin: route', schema: RouteConfig },
  { title: 'ext-proc', command: 'aenv ext-proc --config <file>', schema: ExtProcConfigSchema },
  { title: 'ext-authz', command: 'aenv ext-authz --config <file>', schema: ExtAuthzConfigSchema },
  { title: 'ra-proxy', command: 'aenv ra-proxy --config <file>', schema: RaProxyConfigSchema },
  { title: 'Capsule manager', command: 'aenv capsule-manager serve -c <file>', schema: CapsuleManagerConfigSchema },
  { title: 'Data owner (cms) config', command: 'aenv cms <command> -c <owner.yaml>', schema: OwnerConfigSchema },
  { title: 'Data capsule proxy', command: 'aenv data-capsule-proxy serve --config <file>', schema: DcpConfigSchema },
];

type S = Record<string, unknown> & { type?: string | string[]; properties?: Record<string, S>; items?: S; anyOf?: S[]; required?: string[] };

function typeOf(s: S): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `${s.items ? typeOf(s.items) : 'any'}[]`;
  if (s.type === 'object' && !s.properties) return s.patternProperties || s.additionalProperties ? 'map' : 'object';
  if (Array.isArray(s.type)) return s.type.join(' \\| ');
  return s.type ?? 'any';
}

function constraints(s: S): string {
  const out: string[] = [];
  for (const k of ['minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern', 'format'] as const) {
    if (s[k] !== undefined) out.push(`${k} ${k === 'pattern' ? `\`${String(s[k]).replace(/\|/g, '\\|')}\`` : String(s[k])}`);
  }
  return out.join(', ');
}

function rows(s: S, prefix: string, acc: string[]): void {
  const props = s.properties ?? {};
  const required = new Set(s.required ?? []);
  for (const [name, p] of Object.entries(props)) {
    const path = prefix ? `${prefix}.${name}` : name;
    const def = p.default !== undefined && !(typeof p.default === 'object' && p.default !== null && Object.keys(p.default).length === 0) ? `\`${JSON.stringify(p.default)}\`` : '';
    const req = required.has(name) && p.default === undefined ? 'yes' : '';
    const desc = typeof p.description === 'string' ? p.description : '';
    acc.push(`| \`${path}\` | ${typeOf(p)} | ${req} | ${def} | ${[constraints(p), desc].filter(Boolean).join('; ')} |`);
    if (p.type === 'object' && p.properties) rows(p, path, acc);
    if (p.type === 'array' && p.items?.type === 'object' && p.items.properties) rows(p.items, `${path}[]`, acc);
  }
}

export function render(): string {
  const parts = [
    '# Configuration reference',
    '',
    'Generated from the config schemas by `node --import=tsx scripts/config-reference.ts`',
    '(a test fails when this file is stale). Every service validates its whole config at',
    'start and reports every error at once; unknown properties are errors. Config files',
    'are YAML or JSON. Defaults are applied as listed.',
    '',
  ];
  for (const sec of SECTIONS) {
    const acc: string[] = [];
    rows(sec.schema as unknown as S, '', acc);
    parts.push(`## ${sec.title}`, '', `Used by: ${sec.command}`, '', '| field | type | required | default | notes |', '|---|---|---|---|---|', ...acc, '');
  }
  return parts.join('\n');
}

const target = join(PROJECT_ROOT, 'docs/configuration.md');
if (process.argv[1]?.endsWith('config-reference.ts')) {
  const text = render();
  if (process.argv.includes('--check')) {
    const current = readFileSync(target, 'utf8');
    if (current !== text) {
      process.stderr.write('docs/configuration.md is stale: run node --import=tsx scripts/config-reference.ts\n');
      process.exit(1);
    }
  } else {
    writeFileSync(target, text);
    process.stdout.write(`wrote ${target}\n`);
  }
}
