// ext-proc advertises HTTP/2 receive windows that hold a whole side-stream
// message: with Node's 64 KiB defaults, 64 KiB bodies were 2x slower through
// Envoy (bench/ext-proc-envelope.ts), every stream waiting for WINDOW_UPDATEs.
import t from 'tap';
import { connect } from 'node:http2';
import { silentLogger } from '../../foundation/logger.ts';
import { pollUntil } from '../../foundation/poll.ts';
import { startExtProc } from '../../ext-proc/start.ts';
import { testIdentity } from '../helpers/ext-proc.ts';

t.test('ext-proc advertises windows for its largest message', async (t) => {
  const maxBodyBytes = 1024 * 1024;
  const ep = await startExtProc({ http: { enabled: false }, maxBodyBytes }, { identity: await testIdentity(), logger: silentLogger });
  t.teardown(() => ep.close());
  const session = connect(`http://127.0.0.1:${ep.port}`);
  t.teardown(() => session.destroy());
  const settings = await new Promise<{ initialWindowSize?: number }>((resolve, reject) => {
    session.once('remoteSettings', resolve);
    session.once('error', reject);
  });
  t.ok((settings.initialWindowSize ?? 0) >= maxBodyBytes * 1.4, `stream window ${settings.initialWindowSize} holds a ${maxBodyBytes}-byte body as JWE JSON`);
  // The connection window arrives as a WINDOW_UPDATE on stream 0.
  const conn = await pollUntil('connection window update', async () => ((session.state.remoteWindowSize ?? 0) > 65_535 ? session.state.remoteWindowSize : undefined), { timeoutMs: 5000 });
  t.ok(conn! >= (settings.initialWindowSize ?? 0) * 8, `connection window ${conn} has room for many streams`);
});
