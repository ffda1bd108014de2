import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerConnection, Publisher, StageConsumer, declareStage, isHpcmError, silentLogger, type StageSpec } from '@hpcmirror/core';
import { startRabbitMQ, type BrokerHandle } from '../../packages/sandbox/src/rabbitmq.js';
import { ensureTlsFiles } from '../../packages/sandbox/src/rabbitmq-tls.js';
import { describeBrokerFailure, openProbeConnection } from '../../packages/cli/src/ops/broker-probe.js';
import type { StatusFileJson } from '../../packages/cli/src/ops/status-file.js';
import { eventually, runCli, type CliResult } from './cli-process.js';

/** Every file under `dir`, as text (logs, status files, pid records, checkpoints). */
function allText(dir: string): string {
  let out = '';
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isFile() && statSync(p).size < 16 << 20) out += `\n--- ${p}\n${readFileSync(p, 'utf8')}`;
  }
  return out;
}

// A private node with an amqps:// listener whose certificate a sandbox-made CA signed.
describe('amqps:// with verification, and a password that never shows', () => {
  let broker: BrokerHandle;
  let scratch: string;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'hpcm-ops-tls-'));
    broker = await startRabbitMQ({ dir: join(scratch, 'rabbitmq'), tls: true, management: false });
  }, 180_000);
  afterAll(async () => {
    await broker?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  it('publishes and consumes over amqps:// through core\'s BrokerConnection with broker.tls.ca = the sandbox CA', async () => {
    expect(broker.tlsUrl).toMatch(/^amqps:\/\/guest:guest@127\.0\.0\.1:\d+$/);
    const log = silentLogger();
    const conn = new BrokerConnection({ url: broker.tlsUrl!, logger: log, reconnectS: 0.5, tls: { ca: broker.caFile! } });
    const stage: StageSpec = { name: 'q_test_tls.stage', from: 'xs_test_tls', shards: 1, retryLevelsMs: [1000] };
    const got: string[] = [];
    try {
      await conn.waitConnected(60_000);
      const publisher = new Publisher(conn, { setup: async (ch) => { await declareStage(ch, stage); } });
      const consumer = new StageConsumer(conn, { stage, prefetch: 10, maxAttempts: 3, logger: log, onMessage: (d) => { got.push(d.content.toString()); d.ack(); } });
      await consumer.start();
      await publisher.publish(stage.from, 'v03.x', Buffer.from('over tls'), { headers: { hpcm_path: 'p' } });
      await eventually(async () => (got.length ? true : undefined), 30_000, 'the message to come back');
      expect(got).toEqual(['over tls']);
      await consumer.stop();
      await publisher.close();
    } finally {
      await conn.close();
    }
  }, 90_000);

  it('refuses a broker whose certificate another CA signed, or no configured CA at all, with a clear error (never falls back to plain)', async () => {
    const other = await ensureTlsFiles(join(scratch, 'other-ca'), 'some other CA');
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }));
    const conn = new BrokerConnection({ url: broker.tlsUrl!, logger, reconnectS: 0.5, tls: { ca: other.caFile } });
    try {
      const err = await conn.waitConnected(5_000).then(() => undefined, (e: unknown) => e);
      expect(isHpcmError(err, 'HPM_BROKER_UNREACHABLE')).toBe(true);
      const failed = lines.map((l) => JSON.parse(l) as { msg: string; err?: string }).filter((l) => l.msg === 'broker connection failed; retrying');
      expect(failed.length).toBeGreaterThan(0);
      expect(failed[0]!.err).toMatch(/self[- ]signed certificate|unable to (verify|get)/);
      expect(lines.join('')).not.toContain('guest:guest');
    } finally {
      await conn.close();
    }
    for (const tls of [{ ca: other.caFile }, undefined]) {
      const failure = await openProbeConnection({ url: broker.tlsUrl!, tls }, 'test', 15_000).then(
        async (c) => { await c.close(); return undefined; },
        (e: unknown) => describeBrokerFailure(e, { url: broker.tlsUrl!, tls }),
      );
      expect(failure?.kind).toBe('tls');
      expect(failure?.message).toMatch(/^TLS: the broker's certificate is not trusted: .* checked against /);
    }
  }, 60_000);

  describe('a component run with a password from a 0600 credentials file', () => {
    const user = 'hpcm_ops';
    const password = `Pw-${randomBytes(8).toString('hex')}`;
    let configFile: string;
    let credentials: string;
    const outputs: CliResult[] = [];
    const cli = async (...args: string[]): Promise<CliResult> => {
      const r = await runCli(args, { timeoutMs: 150_000 });
      outputs.push(r);
      return r;
    };

    beforeAll(async () => {
      await broker.ctl(['add_user', user, password]);
      await broker.ctl(['set_permissions', '-p', '/', user, '.*', '.*', '.*']);
      const port = new URL(broker.tlsUrl!).port;
      mkdirSync(join(scratch, 'src'), { recursive: true });
      writeFileSync(join(scratch, 'src', 'f'), 'x');
      credentials = join(scratch, 'credentials.conf');
      writeFileSync(credentials, `# broker login\namqps://${user}:${password}@127.0.0.1:${port}/\n`, { mode: 0o600 });
      configFile = join(scratch, 'tls.yaml');
      writeFileSync(configFile, [
        'flow: tlsops',
        'broker:',
        `  url: amqps://${user}@127.0.0.1:${port}/`,
        `  tls: { ca: ${broker.caFile} }`,
        `credentials: ${credentials}`,
        `source_root: ${join(scratch, 'src')}`,
        `state_dir: ${join(scratch, 'state')}`,
        'log: { level: debug, format: json }',
        'metrics: { enabled: true }',
        'agent:',
        '  base_url: sftp://h/',
        `  spool_dir: ${join(scratch, 'spool')}`,
        '',
      ].join('\n'));
    }, 180_000); // two rabbitmqctl runs: an Erlang VM each, slow on a loaded machine

    afterAll(async () => {
      await runCli(['stop', '--config', configFile]);
    }, 60_000);

    it('start (background), post, status, doctor and stop work over amqps://, and the password is in no output, log or state file', async () => {
      const started = await cli('start', 'agent', '--config', configFile, '--wait', '120');
      expect(started.stdout).toMatch(/^agent\/tls: started, pid \d+ \(log .*agent\.log\)$/m);
      expect(started.code, started.stdout + started.stderr).toBe(0);
      expect((await cli('start', '--config', configFile)).stdout).toMatch(/^agent\/tls: already running, pid \d+$/m);
      const post = await cli('post', '--config', configFile, join(scratch, 'src', 'f'));
      expect(post.code, post.stderr).toBe(0);

      const human = await cli('status', '--config', configFile);
      expect(human.stdout).toMatch(/broker amqps:\/\/hpcm_ops:\*\*\*@127\.0\.0\.1:\d+\/ {2}reachable \(AMQP passive declares\)/);
      expect(human.stdout).toMatch(/^ {2}agent +running +background +\d+ /m);
      // The post's announcement waits in the winnow stage (no winnow runs): depth by passive declare.
      expect(human.stdout).toMatch(/^ {2}winnow +1 +- +0 +0 +0 /m);
      const check = await cli('status', '--config', configFile, '--check');
      expect(check.code, check.stdout).toBe(0);

      const statusFile = JSON.parse(readFileSync(join(scratch, 'state', 'status', 'agent.json'), 'utf8')) as StatusFileJson;
      const scrape = await (await fetch(statusFile.metricsUrl!)).text();
      expect(scrape).toMatch(/^hpcmirror_agent_broker_connected\{flow="tlsops"\} 1$/m);
      expect(scrape).not.toContain(password);

      const doctor = await cli('doctor', '--config', configFile);
      expect(doctor.stdout).toMatch(/^ {2}ok {4}broker +amqps:\/\/hpcm_ops:\*\*\*@127\.0\.0\.1:\d+\/: logged in as "hpcm_ops" on vhost "\/", TLS certificate verified against .*ca\.pem$/m);
      expect(doctor.stdout).toMatch(/^ {2}ok {4}permissions +credentials .*credentials\.conf mode 600$/m);
      expect(doctor.code, doctor.stdout).toBe(0);

      const stopped = await cli('stop', '--config', configFile);
      expect(stopped.stdout).toMatch(/^agent\/tls: stopped \(pid \d+\)$/m);

      const everything = outputs.map((o) => o.stdout + o.stderr).join('\n') + allText(join(scratch, 'state'));
      expect(everything).toContain('"broker connected"');
      expect(everything).not.toContain(password);
    }, 300_000);

    it('a credentials file others can read is refused by every command, without showing the password', async () => {
      chmodSync(credentials, 0o644);
      try {
        const st = await cli('status', '--config', configFile);
        expect(st.code).toBe(2);
        expect(st.stderr).toMatch(/^hpcmirror: HPM_CONFIG_INSECURE: .*credentials\.conf: credentials file has mode 644; it must be 600/);
        const check = await cli('status', '--config', configFile, '--check');
        expect(check.code).toBe(2);
        expect(check.stdout).toMatch(/^HPCMIRROR CRITICAL - HPM_CONFIG_INSECURE: /);
        const doctor = await cli('doctor', '--config', configFile);
        expect(doctor.code).toBe(1);
        expect(doctor.stdout).toMatch(/^ {2}FAIL {2}permissions +credentials .* has mode 644; it must be 600 \(chmod 600 /m);
        expect(doctor.stdout).toMatch(/^ {2}skip {2}broker +not tried: HPM_CONFIG_INSECURE/m);
        for (const o of [st, check, doctor]) expect(o.stdout + o.stderr).not.toContain(password);
      } finally {
        chmodSync(credentials, 0o600);
      }
    }, 120_000);

    it('a wrong password: doctor and status say the login was refused, and show neither password', async () => {
      const wrong = `Wrong-${randomBytes(6).toString('hex')}`;
      const good = readFileSync(credentials, 'utf8');
      writeFileSync(credentials, good.replace(password, wrong));
      try {
        const doctor = await cli('doctor', '--config', configFile);
        expect(doctor.code).toBe(1);
        expect(doctor.stdout).toMatch(/^ {2}FAIL {2}broker +amqps:\/\/hpcm_ops:\*\*\*@127\.0\.0\.1:\d+\/: login refused for user "hpcm_ops"/m);
        const check = await cli('status', '--config', configFile, '--check');
        expect(check.code).toBe(2);
        expect(check.stdout).toMatch(/^HPCMIRROR CRITICAL - .*login refused for user "hpcm_ops"/);
        for (const o of [doctor, check]) {
          expect(o.stdout + o.stderr).not.toContain(password);
          expect(o.stdout + o.stderr).not.toContain(wrong);
        }
      } finally {
        writeFileSync(credentials, good);
      }
    }, 120_000);
  });
});
