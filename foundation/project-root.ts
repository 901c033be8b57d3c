// The repository root, for files the product reads beside its code (the
// generated descriptor set, the bundled defaults).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
