// Runs scenario 3 once and prints what happens:
//   node --import=tsx examples/interact/main.ts
// alice grants bob and carol op "interact" on her data key; each app side
// attests to the CM, receives its group leaf over SDS and says hello to the
// other through its egress listener; dave (no grant) is refused by the CM.
import { freePorts } from '../../dev/free-port.ts';
import { startInteractDemo, until } from './interact-demo.ts';

export async function main(): Promise<number> {
  const demo = await startInteractDemo({ names: ['bob', 'carol', 'dave'], grantees: ['bob', 'carol'] });
  try {
    const [bi, be, ci, ce] = (await freePorts(4)) as [number, number, number, number];
    const bob = await demo.startSide('bob', 'carol', { ingressPort: bi, egressPort: be, peerIngressPort: ci });
    const carol = await demo.startSide('carol', 'bob', { ingressPort: ci, egressPort: ce, peerIngressPort: bi });
    for (const s of [bob, carol]) {
      const st = s.provider.status()[0]!;
      process.stdout.write(`${s.party.name}: party ${s.party.partyId}, group ${st.groupUriPrefix}, leaf until ${st.notAfter}\n`);
    }
    const a = await until('bob -> carol', () => bob.hello('Hello from Bob!').catch(() => undefined));
    process.stdout.write(`bob   -> carol: ${a.body}\n`);
    const b = await until('carol -> bob', () => carol.hello('Hello from Carol!').catch(() => undefined));
    process.stdout.write(`carol -> bob:   ${b.body}\n`);
    await demo.startSide('dave', 'bob', { peerIngressPort: bi }).then(
      () => process.stdout.write('dave: unexpectedly admitted\n'),
      (e: Error) => process.stdout.write(`dave: refused by the capsule manager: ${e.message}\n`),
    );
    return 0;
  } finally {
    await demo.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
