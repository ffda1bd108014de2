import { mirrorOriginOf, silentLogger } from '@hpcmirror/core';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createWinnow, type WinnowService } from '../src/winnow-service.js';
import { TestFlow, sleep, waitFor } from './helpers/broker-flow.js';
import { announceBytes } from './helpers/messages.js';

let flow: TestFlow;
let w: WinnowService | undefined;

beforeEach(async () => {
  flow = new TestFlow(inject('infra').brokerUrl);
  await flow.open();
});

afterEach(async () => {
  await w?.stop();
  w = undefined;
  await flow.close();
});

const withOrigin = (path: string, origin: string | undefined): Buffer => {
  const body = JSON.parse(announceBytes(path, { stat: { size: 1, mtimeNs: 1n, ctimeNs: 1n, ino: 1n } }).toString()) as Record<string, unknown>;
  if (origin !== undefined) body.hpcm_origin = origin;
  return Buffer.from(JSON.stringify(body));
};

describe('winnow: echo suppression by hpcm_origin', () => {
  it("drops announcements of its own flow's and its reverse flow's mirror writes, forwards the rest", async () => {
    const base = flow.config({ window_ms: 0 });
    w = createWinnow({ config: { ...base, reverse_flow: 'back' }, logger: silentLogger() });
    await w.start();
    await flow.publish([
      withOrigin('fs/primary/a', mirrorOriginOf('back')), // written by the reverse flow's subscriber: an echo
      withOrigin('fs/primary/b', mirrorOriginOf(flow.flow)), // this flow's own copy announced back into it
      withOrigin('fs/primary/c', mirrorOriginOf('third-site')), // a chained flow's copy: a real change here
      withOrigin('fs/primary/d', undefined), // a job's write
    ]);
    // The counter moves on the broker's confirm, which comes after the consumer here has the copy.
    await waitFor('2 forwards confirmed and 2 echoes', () => flow.forwarded.length >= 2 && w!.metrics().echoes === 2 && w!.metrics().forwarded === 2);
    await sleep(200); // room for a wrong third forward to show up
    expect(flow.forwarded.map((f) => f.body.relPath).sort()).toEqual(['fs/primary/c', 'fs/primary/d']);
    expect(w.metrics()).toMatchObject({ received: 4, forwarded: 2, echoes: 2, parked: 0 });
  });
});
