import { appendFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { isRecordAlive, readSandboxState, spawnDetached, writeSandboxState } from '../../packages/sandbox/src/index.js';
import { hpcmirror, REPO, SandboxUnderTest } from '../e2e/cli-harness.js';
import { killService, logTails, shimSpawn, type Difference, type ServiceName } from '../e2e/mirror-checks.js';

/** HPCM_FAULTS_LONG=1: more seeds, bigger workloads, the real 60 s outages. */
export const LONG = process.env.HPCM_FAULTS_LONG === '1';

const WRITER = join(REPO, 'test/faults/fixtures/self-check-writer.py');

/** One line of the `npm run faults` table. Must-be-zero cells: lost, divergent, partial, outside. */
export interface FaultRow {
  name: string;
  runs: number;
  events: number;
  lost: number;
  divergent: number;
  partial: number;
  outside: number;
  /** Parked messages that carry their reason, over those expected to be parked ("-" when none are). */
  parked: string;
  note?: string;
}

/** Prints the row, and appends it to HPCM_FAULTS_RESULTS (JSON lines) for test/faults/report.mjs. */
export function recordRow(row: FaultRow): void {
  process.stdout.write(`fault ${JSON.stringify(row)}\n`);
  const file = process.env.HPCM_FAULTS_RESULTS;
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`);
}

/**
 * A directory outside both trees that no component may ever write to: bad inputs aim at it. Its
 * snapshot (names, sizes, mtimes) must not change.
 */
export class Canary {
  readonly dir: string;
  readonly #before: string;
  constructor(parent: string) {
    this.dir = join(parent, 'canary');
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, 'victim'), 'precious\n');
    mkdirSync(join(this.dir, 'sub'), { recursive: true });
    this.#before = this.#snapshot();
  }

  #snapshot(): string {
    const walk = (d: string): string[] => readdirSync(d).sort().flatMap((n) => {
      const p = join(d, n);
      const s = lstatSync(p);
      return [`${p} ${s.size} ${s.mtimeMs}`, ...(s.isDirectory() ? walk(p) : [])];
    });
    return walk(this.dir).join('\n');
  }

  /** Entries added, removed or changed since the canary was made. */
  writes(): number {
    const a = new Set(this.#before.split('\n'));
    const b = new Set(this.#snapshot().split('\n'));
    return [...b].filter((x) => !a.has(x)).length + [...a].filter((x) => !b.has(x)).length;
  }
}

/** Events the agent numbered so far (progress.json `assigned`). */
export function assignedEvents(sb: SandboxUnderTest): number {
  try {
    return (JSON.parse(readFileSync(join(sb.dir, 'state/forward/progress.json'), 'utf8')) as { assigned: number }).assigned;
  } catch {
    return 0;
  }
}

const SELF_CHECK = /^w\d+-(\d+)-\d+$/;
const TEMP = /^\.hpcm\.[0-9a-f]{16}$/;

/** Why a destination file named by the self-check writer is not whole (wrong size, mixed bytes, no trailer); '' if it is. */
function partialReason(path: string, size: number): string {
  let b: Buffer;
  try { b = readFileSync(path); } catch { return ''; }
  if (b.length !== size) return `${b.length} of ${size} bytes`;
  if (b.subarray(size - 4).toString('latin1') !== 'END\n') return 'no trailer';
  for (let i = 1; i < size - 4; i++) if (b[i] !== b[0]) return `mixed bytes from offset ${i}`;
  return '';
}

/**
 * Watches the destination under PREFIX while a fault runs, as a reader would: every self-check file
 * it sees under its final name must be whole. Returns a stop function giving the partial files seen.
 */
export function watchPartials(sb: SandboxUnderTest, prefix: string, everyMs = 250): () => Promise<string[]> {
  const seen = new Set<string>();
  let running = true;
  const walk = (d: string): void => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    for (const n of names) {
      const p = join(d, n);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) { walk(p); continue; }
      const m = SELF_CHECK.exec(n);
      const why = m && st.isFile() ? partialReason(p, Number(m[1])) : '';
      if (why) seen.add(`${p} (${why}, ino ${st.ino}, at ${new Date().toISOString()})`);
    }
  };
  const loop = (async () => {
    while (running) {
      walk(join(sb.dst, prefix));
      await sleep(everyMs);
    }
  })();
  return async () => {
    running = false;
    await loop;
    // A second look, for a reader who catches the file right at the end.
    walk(join(sb.dst, prefix));
    return [...seen];
  };
}

/** Temp files (`.hpcm.<16 hex>`) left under PREFIX of the destination: partial work nobody cleaned up. */
export function leftoverTemps(sb: SandboxUnderTest, prefix: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    for (const n of names) {
      const p = join(d, n);
      if (TEMP.test(n)) out.push(p);
      else if (lstatSync(p).isDirectory()) walk(p);
    }
  };
  walk(join(sb.dst, prefix));
  return out;
}

/** Runs the self-check writer under the shim in src/PREFIX; resolves with its summary line. */
export function runWriter(sb: SandboxUnderTest, prefix: string, seed: number, count: number, maxSize: number, pauseS = 0): Promise<string> {
  const w = shimSpawn(sb, ['python3', WRITER, join(sb.src, prefix), String(seed), String(count), String(maxSize), String(pauseS)]);
  return w.done.then((r) => {
    if (r.code !== 0 || r.stderr !== '') throw new Error(`writer ${prefix} seed ${seed} failed (${r.code}): ${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  });
}

/** Writes one self-checking file NAME of SIZE bytes under src/PREFIX, under the shim (one open, one close). */
export async function writeSelfCheck(sb: SandboxUnderTest, prefix: string, name: string, size: number): Promise<void> {
  // Whole before it is visible under its name (a partial source file would be mirrored as such, rightly).
  const script = `import os, sys\nwith open(sys.argv[1] + '.tmp', 'wb') as f:\n    f.write(b'b' * (int(sys.argv[2]) - 4) + b'END\\n')\nos.rename(sys.argv[1] + '.tmp', sys.argv[1])\n`;
  const r = await shimSpawn(sb, ['python3', '-c', script, join(sb.src, prefix, name), String(size)]).done;
  if (r.code !== 0 || r.stderr !== '') throw new Error(`writing ${name} failed (${r.code}): ${r.stderr}`);
}

export interface Verdict { waitCode: number; waitOut: string; lost: Difference[]; divergent: Difference[] }

/**
 * `audit --json --checksum` differences under PREFIX. An audit that fails (seen once: exit 1 with one
 * log line and no report on stdout) is run again, and named in the error if it keeps failing: an
 * audit that cannot report must not pass for a clean mirror.
 */
async function auditUnder(sb: SandboxUnderTest, prefix: string): Promise<Difference[]> {
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await hpcmirror(['audit', '--sandbox', sb.dir, '--json', '--checksum']);
    try {
      const report = JSON.parse(r.stdout) as { differences?: Difference[] };
      if (Array.isArray(report.differences)) {
        return report.differences.filter((d) => (d.path === prefix || d.path.startsWith(`${prefix}/`)) && !(d.what === 'missing' && /\.tmp$/.test(d.path)));
      }
    } catch { /* not a report */ }
    last = `audit exited ${r.code}: stdout ${r.stdout.slice(0, 1000)} stderr ${r.stderr.slice(0, 1000)}`;
    process.stdout.write(`fault-kit: ${last}\n`);
    await sleep(5000);
  }
  throw new Error(`audit gave no report three times; last: ${last}`);
}

/** `wait`, then audit with content under PREFIX; missing paths are lost, every other difference divergent. */
export async function settle(sb: SandboxUnderTest, prefix: string, waitS = LONG ? 600 : 240): Promise<Verdict> {
  const w = await sb.wait(waitS);
  let diffs = await auditUnder(sb, prefix);
  if (diffs.length > 0) {
    // Tell a slow mirror from a wrong one: anti-entropy gets one more chance, as in the e2e checks.
    await sleep(15_000);
    diffs = await auditUnder(sb, prefix);
  }
  return {
    waitCode: w.code, waitOut: (w.stdout + w.stderr).trim(),
    lost: diffs.filter((d) => d.what === 'missing'), divergent: diffs.filter((d) => d.what !== 'missing'),
  };
}

/** A readable failure message for a case whose cells are not zero. */
export function explain(sb: SandboxUnderTest, row: FaultRow, v: Verdict, partials: string[]): string {
  const show = (ds: Difference[]) => ds.slice(0, 30).map((d) => `  ${d.what} ${d.path} ${d.source ?? ''} ${d.destination ?? ''}`).join('\n');
  return [
    `${row.name}: lost ${row.lost}, divergent ${row.divergent}, partial ${row.partial}, outside ${row.outside}`,
    `wait ${v.waitCode}: ${v.waitOut.slice(0, 2000)}`, show(v.lost), show(v.divergent), partials.slice(0, 20).join('\n'), logTails(sb, 15),
  ].join('\n');
}

export interface Parked { queue: string; id: string | undefined; reason: string | undefined; body: string }

/** Publishes raw bodies and drains parking queues of the sandbox's broker (amqplib, as any client would). */
export class RawBroker {
  readonly #url: string;
  readonly exchange: string;
  readonly #queuePrefix: string;
  constructor(sb: SandboxUnderTest) {
    const state = readSandboxState(sb.dir)!;
    this.#url = state.brokerUrl;
    this.exchange = state.exchange;
    this.#queuePrefix = state.exchange.replace(/^xs_/, 'q_');
  }

  /** Publishes each body (with confirms) to EXCHANGE (default: the subscriber's small-file exchange). */
  async publish(bodies: { id: string; body: Buffer | string; path?: string }[], exchange = `${this.exchange}.small`): Promise<void> {
    const conn = await amqp.connect(this.#url);
    try {
      const ch = await conn.createConfirmChannel();
      for (const b of bodies) {
        ch.publish(exchange, 'v03.faults', Buffer.isBuffer(b.body) ? b.body : Buffer.from(b.body), {
          messageId: b.id, persistent: true, headers: { hpcm_path: b.path ?? b.id },
        });
      }
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
  }

  /** Takes every parked message of the subscriber (and winnow) stages, waiting until N have arrived or the time box ends. */
  async takeParked(n: number, timeoutMs = 60_000): Promise<Parked[]> {
    const queues = ['sub.small.parked', 'sub.large.parked', 'winnow.parked'].map((q) => `${this.#queuePrefix}.${q}`);
    const out: Parked[] = [];
    const conn = await amqp.connect(this.#url);
    try {
      const ch = await conn.createChannel();
      const deadline = Date.now() + timeoutMs;
      while (out.length < n && Date.now() < deadline) {
        let got = false;
        for (const queue of queues) {
          const m = await ch.get(queue, { noAck: true });
          if (!m) continue;
          got = true;
          const reason = m.properties.headers?.hpcm_reject as unknown;
          out.push({ queue, id: m.properties.messageId as string | undefined, reason: reason === undefined ? undefined : String(reason), body: m.content.toString('utf8', 0, 300) });
        }
        if (!got) await sleep(250);
      }
    } finally {
      await conn.close();
    }
    return out;
  }
}

/**
 * Kills a component and starts it again as the sandbox did, with EXTRA in its environment (e.g. the
 * libfaketime preload for clock skew); the new pid goes into sandbox.json so that `sandbox down` stops it.
 * No EXTRA: back to the plain start.
 */
export async function restartServiceWith(sb: SandboxUnderTest, name: ServiceName, extra: Record<string, string> = {}): Promise<number> {
  await killService(sb, name);
  const state = readSandboxState(sb.dir)!;
  const i = state.services.findIndex((s) => s.name === name);
  const old = state.services[i]!;
  const record = await spawnDetached({
    name, argv: old.argv, cwd: sb.dir, logFile: old.logFile,
    env: { ...process.env, HPCMIRROR_SANDBOX: sb.dir, HPCM_SHIM: '0', LD_PRELOAD: '', ...extra },
  });
  state.services[i] = { ...old, pid: record.pid, startTime: record.startTime };
  state.pids[name] = record.pid;
  writeSandboxState(state);
  await sleep(1000);
  if (!isRecordAlive(record)) throw new Error(`${name} exited right after the restart:\n${logTails(sb, 15)}`);
  return record.pid;
}

