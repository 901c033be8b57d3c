import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Free TCP ports for components that must be told their port before they start
 * (Envoy listeners, the demo, tests).
 *
 * A port from `bind(0)` lies in the kernel's ephemeral range, which is also where
 * every outgoing connection takes its source port and every other `bind(0)` its
 * port: released and bound again a moment later, it is sometimes taken in
 * between (seen as EADDRINUSE in the demo test under parallel tests). So ports
 * are drawn at random from below the ephemeral range, where the kernel never
 * allocates, checked by binding, and never handed out twice by one process.
 */

const LOWEST = 10_000;
const given = new Set<number>();

/** The first port of the kernel's ephemeral range (Linux default 32768). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const RANGE_END = ephemeralLow();

function canBind(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(bound));
    });
  });
}

/** A free TCP port on the given loopback host, outside the ephemeral range when possible. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 64; attempt++) {
    const port = randomInt(LOWEST, RANGE_END);
    if (given.has(port)) continue;
    if ((await canBind(port, host)) === port) {
      given.add(port);
      return port;
    }
  }
  // Below the ephemeral range is crowded: fall back to the kernel's choice.
  for (;;) {
    const port = await canBind(0, host);
    if (port === undefined) throw new Error(`cannot bind a TCP port on ${host}`);
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
}

export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) ports.push(await freePort(host));
  return ports;
}
