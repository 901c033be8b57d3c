import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { status } from '@grpc/grpc-js';
import { defineErrors, GrpcStatus, toPublicError } from '../../foundation/errors.ts';
import { ConfigError, loadConfigFile, validateConfig } from '../../foundation/config.ts';

const DemoError = defineErrors('demo', { BAD_THING: 'invalid_argument', TOO_BIG: 'payload_too_large', DENIED: 'permission_denied' });

t.test('the gRPC status numbers agree with grpc-js', async (t) => {
  for (const [name, n] of Object.entries(GrpcStatus)) t.equal(n, status[name as keyof typeof status], name);
});

t.test('foundation/errors.ts loads no transport library', async (t) => {
  const src = (await import('node:fs')).readFileSync(new URL('../../foundation/errors.ts', import.meta.url), 'utf8');
  t.notMatch(src, /from '@grpc|from 'fastify|from 'nats/, 'no grpc-js, fastify or nats import');
});

t.test('component errors carry code, kind and statuses; cause is never public', async (t) => {
  const secret = new Error('secret detail');
  const e = new DemoError('TOO_BIG', 'body exceeds 1 MiB', { cause: secret, details: { limit: 1048576 } });
  t.equal(e.code, 'TOO_BIG');
  t.equal(e.httpStatus, 413);
  t.equal(e.grpcStatus, status.RESOURCE_EXHAUSTED);
  t.equal(e.cause, secret);
  t.equal(e.component, 'demo');
  t.ok(DemoError.is(e, 'TOO_BIG'));
  t.notOk(DemoError.is(e, 'DENIED'));
  const pub = toPublicError(e);
  t.same(pub.body, { code: 'TOO_BIG', message: 'body exceeds 1 MiB', details: { limit: 1048576 } });
  t.notMatch(JSON.stringify(pub), /secret detail/);
  t.equal(new DemoError('DENIED', 'no').httpStatus, 403);
  const unknown = toPublicError(new Error('boom with internals'));
  t.equal(unknown.httpStatus, 500);
  t.notMatch(JSON.stringify(unknown.body), /internals/, 'unknown errors are not leaked');
});

const Schema = Type.Object({
  port: Type.Integer({ minimum: 1, maximum: 65535, default: 8080 }),
  name: Type.String({ minLength: 1 }),
  mode: Type.Union([Type.Literal('sotw'), Type.Literal('delta')], { default: 'sotw' }),
}, { additionalProperties: false });

t.test('config validation applies defaults and reports every error at once', async (t) => {
  t.same(validateConfig(Schema, { name: 'x' }), { name: 'x', port: 8080, mode: 'sotw' });
  const input = { port: 0, mode: 'push', extra: true };
  try {
    validateConfig(Schema, input, 'demo.yaml');
    t.fail('should throw');
  } catch (e) {
    t.ok(ConfigError.is(e, 'CONFIG_INVALID'));
    const errs = (e as InstanceType<typeof ConfigError>).details!.errors as string[];
    t.ok(errs.length >= 4, `all errors reported (${errs.length})`);
    t.match((e as Error).message, /unknown property "extra"/);
    t.match((e as Error).message, /missing required property "name"/);
    t.match((e as Error).message, /\/port/);
  }
  t.same(input, { port: 0, mode: 'push', extra: true }, 'input is not modified');
});

t.test('config files: YAML parsed, unreadable and unparsable files give clear errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  writeFileSync(join(dir, 'ok.yaml'), 'name: app\nport: 9000\n');
  t.same(loadConfigFile(Schema, join(dir, 'ok.yaml')), { name: 'app', port: 9000, mode: 'sotw' });
  writeFileSync(join(dir, 'bad.yaml'), 'name: [unclosed\n');
  t.throws(() => loadConfigFile(Schema, join(dir, 'bad.yaml')), { code: 'CONFIG_PARSE' });
  t.throws(() => loadConfigFile(Schema, join(dir, 'missing.yaml')), { code: 'CONFIG_UNREADABLE' });
});
