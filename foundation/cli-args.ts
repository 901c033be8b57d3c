// The start every component CLI shares (`main(argv)` in <component>/cli.ts):
// parse the flags with node:util parseArgs, answer a usage error with the
// message plus the usage text on stderr (exit 2) and `--help` with the usage
// text on stdout (exit 0). What follows (required flags, config files) stays
// with each CLI.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit status of a command-line usage error (as sysexits' EX_USAGE is too exotic for scripts). */
export const USAGE_ERROR = 2;

export type CliArgsConfig = Omit<ParseArgsConfig, 'args'> & { options: { help: { type: 'boolean' } } };

/** The usage text, ending in exactly the newline the terminal needs. */
function withNewline(usage: string): string {
  return usage.endsWith('\n') ? usage : `${usage}\n`;
}

/**
 * Parses `argv` with `config` (which must declare a boolean `help` option).
 * Returns the parsed flags, or the exit status when the CLI is already done:
 * USAGE_ERROR after a parse error (message and usage on stderr), 0 after
 * `--help` (usage on stdout).
 */
export function parseCliArgs<T extends CliArgsConfig>(argv: string[], config: T, usage: string): ReturnType<typeof parseArgs<T & { args: string[] }>> | number {
  let parsed: ReturnType<typeof parseArgs<T & { args: string[] }>>;
  try {
    parsed = parseArgs({ ...config, args: argv });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${withNewline(usage)}`);
    return USAGE_ERROR;
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(withNewline(usage));
    return 0;
  }
  return parsed;
}
