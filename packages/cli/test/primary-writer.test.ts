/// <reference path="../../../test/infra.d.ts" />
/**
 * The primary writers (failback's writes on the primary), one suite for each: the primary mounted
 * here, and over SFTP against the run's loopback sshd (OpenSSH), with its hard links, and as if the
 * server lacked hardlink@openssh.com (server-side copy-data) or both extensions (a copy through the
 * connection). Then a failback over SFTP with the remote helper, stopped by the delete cap.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '@hpcmirror/core';
import { openSftpSessionFor } from '@hpcmirror/subscriber';
import { loggerFor } from '../src/context.js';
import { failbackJournalOf } from '../src/failback/failover-paths.js';
import type { FlowServices } from '../src/failback/flow-services.js';
import { readPlan } from '../src/failback/plan-file.js';
import { primaryWriterFor, type PlannedRemoval, type PrimaryWriter } from '../src/failback/primary-writer.js';
import { conflictTempName } from '../src/failback/primary-writers/primary-paths.js';
import { localPrimaryWriter } from '../src/failback/primary-writers/local-primary-writer.js';
import { sftpPrimaryWriter } from '../src/failback/primary-writers/sftp-primary-writer.js';
import { runFailback } from '../src/failback/run-failback.js';
import { StepJournal } from '../src/failback/step-journal.js';
import { writeManifest } from '../src/failback/t0-manifest.js';
import { compareOptions, openMirrorSides } from '../src/mirror-sides.js';

const CLI = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hpcm-primary-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ssh = () => inject('infra').ssh;
const sshSection = () => ({
  host: ssh().host, port: ssh().port, user: ssh().user, identity_file: ssh().identityFile, known_hosts: ssh().knownHostsFile,
  remote_helper: `HPCM_SHIM=0 ${process.execPath} ${CLI} helper`, connections: 1,
});

function tree(root: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), content);
  }
}

/** What the manifest would have recorded of a path now. */
function asPlanned(path: string): PlannedRemoval {
  const st = lstatSync(path, { bigint: true });
  const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
  return { type, size: Number(st.size), mtimeNs: st.mtimeNs };
}

interface WriterCase {
  name: string;
  open(root: string, lines: string[]): Promise<PrimaryWriter>;
  /** How a conflict copy is made: a hard link, a copy on the server, or through the connection. */
  copies: 'link' | 'server' | 'client';
}

const sftpWriter = (withoutExtensions: string[]) => async (root: string, lines: string[]): Promise<PrimaryWriter> =>
  sftpPrimaryWriter(await openSftpSessionFor(sshSection(), { withoutExtensions }), root, { info: (m) => lines.push(m) });

const cases: WriterCase[] = [
  { name: 'local (mounted here)', open: async (root) => localPrimaryWriter(root), copies: 'link' },
  { name: 'sftp, hard links', open: sftpWriter([]), copies: 'link' },
  { name: 'sftp without hardlink@openssh.com: server-side copy', open: sftpWriter(['hardlink@openssh.com']), copies: 'server' },
  { name: 'sftp without hardlink nor copy-data: copy through the connection', open: sftpWriter(['hardlink@openssh.com', 'copy-data']), copies: 'client' },
];

describe.each(cases)('primary writer: $name', (c) => {
  const root = join(dir, c.name.replace(/\W+/g, '-'));
  const outside = `${root}-outside`;

  it('probe, conflict copies that survive a rename over the name, idempotent and resumable', async () => {
    tree(root, { 'x/f': 'primary', 'x/g': 'other' });
    utimesSync(join(root, 'x/f'), 1_700_000_000, 1_700_000_123);
    const lines: string[] = [];
    const w = await c.open(root, lines);
    try {
      await w.probeWritable();
      expect(execFileSync('ls', ['-A', root], { encoding: 'utf8' }).trim().split('\n').sort()).toEqual(['x']); // the probe is gone
      const name = await w.keepConflict(Buffer.from('x/f'), '20261123T180000');
      expect(name.toString()).toBe('x/f.hpcm-conflict-20261123T180000');
      expect((await w.keepConflict(Buffer.from('x/f'), '20261123T180000')).toString()).toBe(name.toString());
      const kept = join(root, name.toString());
      if (c.copies === 'link') {
        expect(statSync(kept).ino).toBe(statSync(join(root, 'x/f')).ino);
      } else {
        expect(statSync(kept).ino).not.toBe(statSync(join(root, 'x/f')).ino);
        expect(statSync(kept).mtimeMs).toBe(1_700_000_123_000); // the primary's times and mode come along
        expect(statSync(kept).mode).toBe(statSync(join(root, 'x/f')).mode);
        expect(lines.join('\n')).toMatch(c.copies === 'server' ? /conflict copies are real copies, made on the server \(copy-data\)/ : /conflict copies are real copies, read and written back through this connection/);
        // An interrupted copy left its temp file: a re-run replaces it.
        const tmp = conflictTempName(Buffer.from('x/g.hpcm-conflict-20261123T180000')).toString();
        writeFileSync(join(root, tmp), 'half a cop');
        await w.keepConflict(Buffer.from('x/g'), '20261123T180000');
        expect(existsSync(join(root, tmp))).toBe(false);
        expect(readFileSync(join(root, 'x/g.hpcm-conflict-20261123T180000'), 'utf8')).toBe('other');
      }
      // The copy back renames the secondary's version over the name: the kept one stays as it was.
      writeFileSync(join(root, 'x/f.new'), 'secondary');
      renameSync(join(root, 'x/f.new'), join(root, 'x/f'));
      expect(readFileSync(kept, 'utf8')).toBe('primary');
    } finally {
      await w.close();
    }
    const down = await c.open(join(dir, 'absent'), []);
    try {
      await expect(down.probeWritable()).rejects.toMatchObject({ code: 'HPM_FAILBACK_PRIMARY_DOWN' });
    } finally {
      await down.close();
    }
  });

  it('deletes only what is still as the manifest had it; a directory only once empty', async () => {
    tree(root, { 'd/a': 'a', 'd/b': 'b', 'd/c': 'c', 'e/keep': 'k', 'target': 't' });
    mkdirSync(join(root, 'empty'));
    symlinkSync('../target', join(root, 'd/link'));
    const planned = Object.fromEntries(['d/a', 'd/b', 'd/c', 'd/link', 'd', 'e', 'empty'].map((p) => [p, asPlanned(join(root, p))]));
    writeFileSync(join(root, 'd/b'), 'changed on the primary since'); // other size
    utimesSync(join(root, 'd/c'), 1_700_000_000, 1_700_000_999); // same size, other mtime
    rmSync(join(root, 'empty'), { recursive: true });
    const w = await c.open(root, []);
    try {
      const remove = (p: string) => w.remove(Buffer.from(p), planned[p]!);
      expect(await remove('d/a')).toBe('removed');
      expect(await remove('d/a')).toBe('gone');
      expect(await remove('d/b')).toBe('changed');
      expect(await remove('d/c')).toBe('changed');
      expect(await remove('d/link')).toBe('removed'); // the link, not what it points to
      expect(readFileSync(join(root, 'target'), 'utf8')).toBe('t');
      expect(await remove('d')).toBe('not-empty');
      expect(await remove('e')).toBe('not-empty');
      expect(await remove('empty')).toBe('gone');
      rmSync(join(root, 'd/b'));
      rmSync(join(root, 'd/c'));
      expect(await remove('d')).toBe('removed');
      expect(existsSync(join(root, 'd'))).toBe(false);
      expect(readFileSync(join(root, 'e/keep'), 'utf8')).toBe('k');
    } finally {
      await w.close();
    }
  });

  it('never writes outside the root: no "..", no absolute or empty components, no symlinked parent followed', async () => {
    tree(outside, { 'f': 'outside', 'sub/f': 'outside' });
    symlinkSync(outside, join(root, 'out'));
    const w = await c.open(root, []);
    try {
      const file = { type: 'file' as const, size: 7, mtimeNs: asPlanned(join(outside, 'f')).mtimeNs };
      for (const bad of ['../escape', '/etc/passwd', 'a//b', './x', 'x/..', '']) {
        await expect(w.remove(Buffer.from(bad), file), bad).rejects.toMatchObject({ code: 'HPM_PATH_UNSAFE' });
        await expect(w.keepConflict(Buffer.from(bad), 'S'), bad).rejects.toMatchObject({ code: 'HPM_PATH_UNSAFE' });
      }
      await expect(w.remove(Buffer.from('out/f'), file)).rejects.toMatchObject({ code: 'HPM_PATH_UNSAFE' });
      await expect(w.remove(Buffer.from('out/sub/f'), file)).rejects.toMatchObject({ code: 'HPM_PATH_UNSAFE' });
      await expect(w.keepConflict(Buffer.from('out/f'), 'S')).rejects.toMatchObject({ code: 'HPM_PATH_UNSAFE' });
      expect(execFileSync('find', [outside], { encoding: 'utf8' }).trim().split('\n').sort()).toEqual([outside, `${outside}/f`, `${outside}/sub`, `${outside}/sub/f`]);
    } finally {
      await w.close();
    }
  });
});

describe('failback over SFTP (the primary on another cluster)', () => {
  it('checks the primary over SFTP, plans with the remote helper, and the delete cap stops the run before any change', async () => {
    const { brokerUrl } = inject('infra');
    const primary = join(dir, 'fb-primary');
    const secondary = join(dir, 'fb-secondary');
    tree(primary, { 'a': 'a', 'b': 'b', 'c': 'c', 'd/e': 'e' });
    execFileSync('cp', ['-a', primary, secondary]);
    const manifest = join(dir, 'fb-manifest.tsv');
    await writeManifest(secondary, manifest, []);
    await sleep(20);
    const t0Ns = BigInt(Date.now()) * 1_000_000n;
    await sleep(20);
    for (const p of ['a', 'c', 'd/e']) rmSync(join(secondary, p));
    writeFileSync(join(secondary, 'b'), 'b-secondary');
    writeFileSync(join(primary, 'b'), 'b-primary');

    const configFile = (name: string, body: string[]): string => {
      const f = join(dir, name);
      writeFileSync(f, [`broker: { url: "${brokerUrl}" }`, `state_dir: ${join(dir, `state-${name}`)}`, ...body, ''].join('\n'));
      return f;
    };
    const s = sshSection();
    const forward = loadConfig(configFile('forward.yaml', [
      'flow: fbsftp', `source_root: ${primary}`, `destination_root: ${secondary}`,
      'subscriber:', '  transport: sftp', '  ssh:',
      ...Object.entries(s).map(([k, v]) => `    ${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}`),
    ]));
    const reverse = loadConfig(configFile('reverse.yaml', [
      'flow: fbsftp-rev', `source_root: ${secondary}`, `destination_root: ${primary}`, 'agent:', '  base_url: file:///', `  spool_dir: ${join(dir, 'fb-spool')}`,
    ]));
    const idle: FlowServices = {
      stop: () => { throw new Error('the capped run must not touch the flows'); },
      start: () => { throw new Error('the capped run must not touch the flows'); },
      isRunning: () => false,
    };
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m) };
    const sides = await openMirrorSides(forward, loggerFor(forward, 'failback'));
    const writer = await primaryWriterFor(forward, log);
    try {
      expect(writer.kind).toBe('sftp');
      await expect(runFailback({
        forward, reverse, forwardServices: idle, reverseServices: idle, primary: sides.source, secondary: sides.destination, writer,
        t0Ns, manifest, maxDelete: '2', compare: compareOptions({}), timeoutS: 30, log,
      })).rejects.toMatchObject({ code: 'HPM_FAILBACK_DELETE_CAP' });
      const journal = StepJournal.read(failbackJournalOf(forward));
      expect(Object.keys(journal?.steps ?? {})).toEqual(['check-primary', 'plan']);
      const { plan } = journal!.steps.plan!.result as { plan: { file: string; deletes: number; conflicts: number } };
      expect([plan.deletes, plan.conflicts]).toEqual([3, 1]);
      const deletes: string[] = [];
      for await (const l of readPlan(plan.file, 'delete')) deletes.push(l.rel.toString());
      expect(deletes.sort()).toEqual(['a', 'c', 'd/e']);
      expect(lines.join('\n')).not.toMatch(/conflict:/);
      for (const p of ['a', 'c', 'd/e']) expect(existsSync(join(primary, p))).toBe(true);
      expect(readFileSync(join(primary, 'b'), 'utf8')).toBe('b-primary');
      expect(execFileSync('ls', ['-A', primary], { encoding: 'utf8' }).trim().split('\n').sort()).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      await Promise.all([sides.close(), writer.close()]);
    }
  }, 60_000);
});
