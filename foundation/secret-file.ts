// Secrets that configs name by file (tokens, passwords, nkey seeds): read once,
// trimmed, and refused with a message naming the config field when the file
// cannot be read or holds too little. Each component raises its own error.
import { readFileSync } from 'node:fs';

export type SecretFileProblem = 'unreadable' | 'too-short';

/**
 * The trimmed text of `path`, at least `minLength` characters. On failure calls
 * `fail` with the problem and a message naming `field`, and throws what it returns.
 */
export function readSecretFile(path: string, field: string, fail: (problem: SecretFileProblem, message: string, cause?: unknown) => Error, minLength = 1): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (cause) {
    throw fail('unreadable', `${field} ${path} cannot be read`, cause);
  }
  if (text.length < minLength) throw fail('too-short', minLength > 1 ? `${field} must hold a token of at least ${minLength} characters` : `${field} ${path} is empty`);
  return text;
}
