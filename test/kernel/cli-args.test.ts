import t from 'tap';
import { parseCliArgs, USAGE_ERROR } from '../../kernel/cli-args.ts';

const USAGE = 'usage: demo [--name <n>]\n';
const CONFIG = { allowPositionals: true, options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } }, strict: true } as const;

function captured<T>(fn: () => T): { result: T; out: string; err: string } {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  let o = '';
  let e = '';
  process.stdout.write = ((c: string | Uint8Array) => ((o += c.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((e += c.toString()), true)) as typeof process.stderr.write;
  try {
    return { result: fn(), out: o, err: e };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

t.test('parsed flags and positionals come back as parseArgs returns them', async (t) => {
  const r = captured(() => parseCliArgs(['--name', 'x', 'serve'], CONFIG, USAGE));
  if (typeof r.result === 'number') return t.fail(`expected parsed flags, got exit ${r.result}`);
  t.same(r.result.values, { name: 'x', help: false });
  t.same(r.result.positionals, ['serve']);
  t.equal(r.out + r.err, '', 'nothing printed');
});

t.test('an unknown flag: message and usage on stderr, exit 2', async (t) => {
  const r = captured(() => parseCliArgs(['--nope'], CONFIG, USAGE));
  t.equal(r.result, USAGE_ERROR);
  t.equal(USAGE_ERROR, 2);
  t.match(r.err, /^Unknown option '--nope'.*\nusage: demo \[--name <n>\]\n$/s);
  t.equal(r.out, '');
});

t.test('a string flag without a value is a usage error too', async (t) => {
  const r = captured(() => parseCliArgs(['--name'], CONFIG, USAGE));
  t.equal(r.result, 2);
  t.match(r.err, /--name.*argument/s);
});

t.test('--help and its short form: usage on stdout, exit 0, even with other flags', async (t) => {
  for (const argv of [['--help'], ['-h'], ['--name', 'x', '--help']]) {
    const r = captured(() => parseCliArgs(argv, CONFIG, USAGE));
    t.equal(r.result, 0, argv.join(' '));
    t.equal(r.out, USAGE);
    t.equal(r.err, '');
  }
});

t.test('a usage text without a final newline gets exactly one', async (t) => {
  const help = captured(() => parseCliArgs(['--help'], CONFIG, 'usage: bare'));
  t.equal(help.out, 'usage: bare\n');
  const bad = captured(() => parseCliArgs(['--nope'], CONFIG, 'usage: bare'));
  t.match(bad.err, /\nusage: bare\n$/);
});
