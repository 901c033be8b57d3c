import t from 'tap';
import { validateConfig } from '../../foundation/config.ts';
import { listenSchema } from '../../foundation/config-schemas.ts';

t.test('listenSchema(): loopback, any free port, no other keys', async (t) => {
  const s = listenSchema();
  t.same(validateConfig(s, {}), { host: '127.0.0.1', port: 0 });
  t.same(validateConfig(s, { host: '0.0.0.0', port: 8080 }), { host: '0.0.0.0', port: 8080 });
  t.throws(() => validateConfig(s, { port: 65536 }), /port/);
  t.throws(() => validateConfig(s, { port: -1 }), /port/);
  t.throws(() => validateConfig(s, { port: 1.5 }), /port/);
  t.throws(() => validateConfig(s, { enabled: true }), 'no enabled switch unless asked for');
  t.same(s.default, {}, 'the whole endpoint may be left out');
});

t.test('listenSchema({ enabled }): the switch comes first, with the given default', async (t) => {
  const on = listenSchema({ enabled: true });
  t.same(Object.keys(on.properties), ['enabled', 'host', 'port'], 'property order (docs/configuration.md lists them in it)');
  t.same(validateConfig(on, {}), { enabled: true, host: '127.0.0.1', port: 0 });
  t.same(validateConfig(listenSchema({ enabled: false }), {}), { enabled: false, host: '127.0.0.1', port: 0 });
  t.throws(() => validateConfig(on, { enabled: 'yes' }), /enabled/);
  t.throws(() => validateConfig(on, { extra: 1 }));
});
