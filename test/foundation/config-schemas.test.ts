import t from 'tap';
import { validateConfig } from '../../foundation/config.ts';
import { listenSchema } from '../../foundation/config-schemas.ts';

t.test('listenSchema(): loopback, any free port, no other keys', async (t) => {
  const s = listenSchema();
  t.same(validateConfig(s, {}), { host: '127.0.0.1', port: 0, socketMode: '0660' });
  t.same(validateConfig(s, { host: '0.0.0.0', port: 8080 }), { host: '0.0.0.0', port: 8080, socketMode: '0660' }, 'the schema takes any host: net/listen.ts refuses plaintext beyond loopback at bind');
  t.same(validateConfig(listenSchema({ port: 8888 }), {}).port, 8888, 'a component may give its default port');
  t.same(validateConfig(s, { socket: '/run/aenv/x.sock', socketMode: '600' }), { host: '127.0.0.1', port: 0, socket: '/run/aenv/x.sock', socketMode: '600' });
  t.throws(() => validateConfig(s, { socketMode: '0777x' }), /socketMode/);
  t.throws(() => validateConfig(s, { socket: '/' + 'x'.repeat(107) }), /socket/, 'longer than a sockaddr_un path');
  t.throws(() => validateConfig(s, { tls: { certFile: 'c', keyFile: 'k' } }), /clientCaFile/, 'tls is mutual: the client CA is required');
  t.throws(() => validateConfig(s, { port: 65536 }), /port/);
  t.throws(() => validateConfig(s, { port: -1 }), /port/);
  t.throws(() => validateConfig(s, { port: 1.5 }), /port/);
  t.throws(() => validateConfig(s, { enabled: true }), 'no enabled switch unless asked for');
  t.same(s.default, {}, 'the whole endpoint may be left out');
});

t.test('listenSchema({ enabled }): the switch comes first, with the given default', async (t) => {
  const on = listenSchema({ enabled: true });
  t.same(Object.keys(on.properties), ['enabled', 'host', 'port', 'socket', 'socketMode', 'tls'], 'property order (docs/configuration.md lists them in it)');
  t.same(validateConfig(on, {}), { enabled: true, host: '127.0.0.1', port: 0, socketMode: '0660' });
  t.same(validateConfig(listenSchema({ enabled: false }), {}), { enabled: false, host: '127.0.0.1', port: 0, socketMode: '0660' });
  t.throws(() => validateConfig(on, { enabled: 'yes' }), /enabled/);
  t.throws(() => validateConfig(on, { extra: 1 }));
});
