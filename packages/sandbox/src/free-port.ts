import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { SandboxError } from './errors.js';

export const LOOPBACK = '127.0.0.1';

/** Ports picked from below the kernel's ephemeral range, so outgoing connections never take them. */
const PICK_FLOOR = 20000;
const ATTEMPTS = 200;

/** Resolves true when `port` can be bound on `host` right now. */
export function isPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Asks the kernel for any free port (bind to 0, read, close). */
function kernelPickedPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function ephemeralFloor(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > PICK_FLOOR + 1000 ? value : 32768;
  } catch {
    return 32768;
  }
}

/**
 * Returns `count` distinct ports free on `host`. Each is verified by binding it; candidates come from
 * [20000, ephemeral floor) so a restarted service can usually get its port back, and the kernel's own
 * choice is the fallback.
 */
export async function findFreePorts(count: number, host = LOOPBACK): Promise<number[]> {
  const ceiling = ephemeralFloor();
  const chosen = new Set<number>();
  for (let attempt = 0; attempt < ATTEMPTS && chosen.size < count; attempt++) {
    const candidate = PICK_FLOOR + Math.floor(Math.random() * (ceiling - PICK_FLOOR));
    if (!chosen.has(candidate) && (await isPortFree(candidate, host))) chosen.add(candidate);
  }
  for (let attempt = 0; attempt < ATTEMPTS && chosen.size < count; attempt++) {
    chosen.add(await kernelPickedPort(host));
  }
  if (chosen.size < count) throw new SandboxError(undefined, `could not find ${count} free ports on ${host}`);
  return [...chosen];
}

export async function findFreePort(host = LOOPBACK): Promise<number> {
  const [port] = await findFreePorts(1, host);
  return port as number;
}

/** True when every port in the list is free; used to reuse a previous run's ports. */
export async function arePortsFree(ports: readonly number[], host = LOOPBACK): Promise<boolean> {
  for (const port of ports) if (!(await isPortFree(port, host))) return false;
  return true;
}
