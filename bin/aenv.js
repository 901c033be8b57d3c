#!/usr/bin/env node
// Launcher for the `aenv` CLI: registers tsx (TypeScript at run time, no build
// step) and runs bin/aenv.ts, from any working directory.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('./aenv.ts');
process.exitCode = await run(process.argv.slice(2));
