// Which identities may call which paths (pure). Rules are matched by the
// longest path prefix (then by method); no matching rule means deny: the
// policy fails closed.
import { ExtAuthzError } from '../errors.ts';
import type { PolicyRule } from '../config.ts';

export interface CompiledPolicy {
  rules: readonly PolicyRule[];
  select(path: string, method: string): PolicyRule | undefined;
}

export function compilePolicy(rules: PolicyRule[]): CompiledPolicy {
  const errors: string[] = [];
  const names = new Set<string>();
  for (const r of rules) {
    if (names.has(r.name)) errors.push(`rule "${r.name}": duplicate name`);
    names.add(r.name);
    if (r.public && (r.peers || r.jwt)) errors.push(`rule "${r.name}": public excludes peers and jwt`);
    if (!r.public && !r.peers && !r.jwt) errors.push(`rule "${r.name}": needs public: true, peers or jwt: true (an empty rule would allow everyone by accident)`);
  }
  if (errors.length) throw new ExtAuthzError('BAD_POLICY', `policy is invalid:\n  - ${errors.join('\n  - ')}`, { details: { errors } });
  // Longest prefix first; stable for equal lengths (config order).
  const sorted = [...rules].sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
  return {
    rules,
    select(path, method) {
      return sorted.find((r) => path.startsWith(r.pathPrefix) && (!r.methods || r.methods.includes(method)));
    },
  };
}

/** The path without query or fragment, as matched against prefixes. */
export function pathOf(requestPath: string): string {
  const cut = requestPath.search(/[?#]/);
  return cut < 0 ? requestPath : requestPath.slice(0, cut);
}
