import t from 'tap';
import { parseCliArgs, USAGE_ERROR } from '../../foundation/cli-args.ts';
import { captureOutput } from '../helpers/capture-output.ts';

const USAGE = 'usage: demo [--name <n>]\n';
const CONFIG = { allowPositionals: true, options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } }, strict: true } as const;

t.test('parsed flags and positionals come back as parseArgs returns them', async (t) => {
  const r = await captureOutput(() => parseCliArgs(['--name', 'x', 'serve'], CONFIG, USAGE));
  if (typeof r.value === 'number') return t.fail(`expected parsed flags, got exit ${r.value}`);
  t.same(r.value.values, { name: 'x', help: false });
  t.same(r.value.positionals, ['serve']);
  t.equal(r.out + r.err, '', 'nothing printed');
});

t.test('an unknown flag: message and usage on stderr, exit 2', async (t) => {
  const r = await captureOutput(() => parseCliArgs(['--nope'], CONFIG, USAGE));
  t.equal(r.value, USAGE_ERROR);
  t.equal(USAGE_ERROR, 2);
  t.match(r.err, /^Unknown option '--nope'.*\nusage: demo \[--name <n>\]\n$/s);
  t.equal(r.out, '');
});

t.test('a string flag without a value is a usage error too', async (t) => {
  const r = await captureOutput(() => parseCliArgs(['--name'], CONFIG, USAGE));
  t.equal(r.value, 2);
  t.match(r.err, /--name.*argument/s);
});

t.test('--help and its short form: usage on stdout, exit 0, even with other flags', async (t) => {
  for (const argv of [['--help'], ['-h'], ['--name', 'x', '--help']]) {
    const r = await captureOutput(() => parseCliArgs(argv, CONFIG, USAGE));
    t.equal(r.value, 0, argv.join(' '));
    t.equal(r.out, USAGE);
    t.equal(r.err, '');
  }
});

t.test('a usage text without a final newline gets exactly one', async (t) => {
  const help = await captureOutput(() => parseCliArgs(['--help'], CONFIG, 'usage: bare'));
  t.equal(help.out, 'usage: bare\n');
  const bad = await captureOutput(() => parseCliArgs(['--nope'], CONFIG, 'usage: bare'));
  t.match(bad.err, /\nusage: bare\n$/);
});
