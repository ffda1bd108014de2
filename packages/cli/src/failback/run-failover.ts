/**
 * `hpcmirror failover` (semantics.md, "Catch-up, failover and failback"): the primary failed, so
 * 1. stop the forward subscribers (their unacked messages return to the queues);
 * 2. set their pending queues aside, so no pre-outage version is pulled over a newer secondary file
 *    when the primary's sshd comes back;
 * 3. record T0 and 4. the manifest of the applied state at T0 (the secondary as it is now);
 * 5. declare the reverse flow's capped queues and 6. start the reverse agents on the secondary.
 * Each step is logged in `failover.json`; a re-run continues where an interrupted one stopped.
 */
import { join } from 'node:path';
import { SUBSCRIBER_TEMP_GLOB } from '@hpcmirror/agent';
import { formatTime, HpcmError, type LoadedConfig } from '@hpcmirror/core';
import { resolveSettings } from '@hpcmirror/subscriber';
import { componentsOf } from '../ops/components.js';
import { declareReverseStages, setAsideForwardQueues, type SetAsideResult } from './broker-queues.js';
import { failoverDirOf, failoverJournalOf } from './failover-paths.js';
import type { FlowServices } from './flow-services.js';
import { StepJournal, type StepLog } from './step-journal.js';
import { writeManifest } from './t0-manifest.js';
import { computeT0 } from './t0-point.js';

export interface FailoverInputs {
  forward: LoadedConfig;
  reverse: LoadedConfig;
  forwardServices: FlowServices;
  reverseServices: FlowServices;
  skewS: number;
  log: StepLog;
  nowNs?: () => bigint;
}

export interface FailoverRecord {
  t0Ns: string;
  t0: string;
  boundBy: string;
  manifest: string;
  manifestEntries: number;
  setAside: SetAsideResult;
}

export async function runFailover(i: FailoverInputs): Promise<FailoverRecord> {
  const f = i.forward;
  if (!f.subscriber || !f.destination_root) {
    throw new HpcmError('HPM_USAGE', `${f.configFile}: failover needs the forward subscriber config of this node (destination_root and a subscriber section)`);
  }
  const journal = StepJournal.open(failoverJournalOf(f), 'failover', i.log);
  if (journal.json.finishedAt) {
    const t0 = journal.fact<string>('t0') ?? '?';
    i.log.info(`already failed over at ${journal.json.finishedAt} (T0 ${t0}); run \`hpcmirror failback\` once the primary is back`);
    return journal.fact<FailoverRecord>('record')!;
  }
  if (journal.resumed) i.log.info(`resuming the failover started at ${journal.json.startedAt}`);

  await journal.step('stop-forward', 'stopping the forward subscribers', async () => ({ subscriber: await i.forwardServices.stop('subscriber') }));
  const setAside = await journal.step('set-aside', 'setting the forward subscribers\' pending messages aside', () => setAsideForwardQueues(f));
  const t0 = await journal.step('t0', 'recording T0', async () => {
    const p = await computeT0({
      nowNs: (i.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n))(),
      oldestPendingNs: setAside.oldestEventNs === null ? null : BigInt(setAside.oldestEventNs),
      latencyLog: resolveSettings(f).latencyLog,
      skewNs: BigInt(Math.round(i.skewS * 1e9)),
    });
    return { t0Ns: p.t0Ns.toString(), t0: formatTime(p.t0Ns, 6), boundBy: p.boundBy };
  });
  journal.setFact('t0', t0.t0);
  const manifestFile = join(failoverDirOf(f), `manifest-${t0.t0Ns}.tsv`);
  const manifest = await journal.step('manifest', `writing the manifest of the applied state at T0 (${f.destination_root})`, async () => ({
    file: manifestFile,
    entries: await writeManifest(f.destination_root!, manifestFile, [SUBSCRIBER_TEMP_GLOB]),
  }));
  await journal.step('declare-reverse', `declaring the reverse flow's queues (${i.reverse.flow})`, async () => { await declareReverseStages(i.reverse); });
  await journal.step('start-reverse', 'starting the reverse agents on the secondary', async () => {
    const started: Record<string, string> = {};
    // The reverse subscribers run on the primary's side: failback starts them.
    for (const c of componentsOf(i.reverse).filter((x) => x !== 'subscriber')) started[c] = await i.reverseServices.start(c);
    return started;
  });
  const record: FailoverRecord = {
    t0Ns: t0.t0Ns, t0: t0.t0, boundBy: t0.boundBy, manifest: manifest.file, manifestEntries: manifest.entries, setAside,
  };
  journal.setFact('record', record);
  journal.finish();
  return record;
}
