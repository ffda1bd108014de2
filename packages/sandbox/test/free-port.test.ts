import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { arePortsFree, findFreePort, findFreePorts, isPortFree } from '../src/free-port.js';

describe('free ports', () => {
  it('finds distinct free loopback ports below the ephemeral range', async () => {
    const ports = await findFreePorts(6);
    expect(new Set(ports).size).toBe(6);
    for (const port of ports) expect(port).toBeGreaterThanOrEqual(20000);
    expect(await arePortsFree(ports)).toBe(true);
  });

  it('sees a bound port as taken', async () => {
    const port = await findFreePort();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      expect(await isPortFree(port)).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await isPortFree(port)).toBe(true);
  });
});
