import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HpcmError, loadConfig, parseConfig, readCredentials, redactUrl, withCredentials } from '../src/index.js';

const GOOD = `flow: ops
broker:
  url: amqp://opsm@localhost:5672/
source_root: /fs/primary
destination_root: /fs/secondary
subscriber:
  transport: local
`;

function configError(text: string): string {
  try {
    parseConfig(text, 'x.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(HpcmError);
    expect((err as HpcmError).exitCode).toBe(2);
    return (err as HpcmError).message;
  }
  throw new Error('config accepted');
}

describe('config', () => {
  it('fills defaults and derives the exchange', () => {
    const c = parseConfig(GOOD + 'user: opsm\n', 'x.yaml');
    expect(c.exchange).toBe('xs_opsm_ops');
    expect(c.subscriber!.fsync).toBe(true);
    expect(c.subscriber!.pools.small.workers).toBe(32);
    expect(c.broker.prefetch).toBe(64);
  });

  it('every example config in configs/ is valid', () => {
    const dir = new URL('../../../configs/', import.meta.url).pathname;
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) expect(() => loadConfig(join(dir, f)), f).not.toThrow();
  });

  it('bad YAML: file:line and the parser message', () => {
    expect(configError('flow: ops\nbroker: [unclosed\n')).toMatch(/^x\.yaml:\d+: YAML: /);
  });

  it('unknown key (typo): the line of the key and its name', () => {
    expect(configError(GOOD + 'subscriber:\n  transport: local\n').length).toBeGreaterThan(0);
    const msg = configError(GOOD.replace('destination_root', 'destinaton_root'));
    expect(msg).toBe('x.yaml:5: destinaton_root: unknown key');
    // A misspelt mandatory key: the typo is the cause, not the mandatory key it leaves missing.
    expect(configError(GOOD.replace('source_root', 'source_rooot'))).toBe('x.yaml:4: source_rooot: unknown key');
  });

  it('wrong type: the line and what was expected', () => {
    const msg = configError(GOOD.replace('transport: local', 'transport: ftp'));
    expect(msg).toMatch(/^x\.yaml:7: subscriber\.transport: /);
    const msg2 = configError(GOOD + 'winnow:\n  window_ms: soon\n');
    expect(msg2).toMatch(/^x\.yaml:9: winnow\.window_ms: .*number/i);
  });

  it('missing mandatory key and relative root', () => {
    expect(configError('flow: ops\nsource_root: /a\n')).toMatch(/^x\.yaml:1: broker: /);
    expect(configError(GOOD.replace('/fs/primary', 'fs/primary'))).toBe('x.yaml:4: source_root: must be an absolute path');
  });

  it('subscriber.anti_entropy: on by default, off with false; old configs with a week-long quiet time still load', () => {
    expect(parseConfig(GOOD, 'x.yaml').subscriber!.anti_entropy).toBe(true);
    expect(parseConfig(GOOD + '  anti_entropy: false\n', 'x.yaml').subscriber!.anti_entropy).toBe(false);
    const old = parseConfig(GOOD + '  anti_entropy_quiet_s: 604800\n', 'x.yaml').subscriber!;
    expect([old.anti_entropy, old.anti_entropy_quiet_s]).toEqual([true, 604800]);
    expect(configError(GOOD + '  anti_entropy: sometimes\n')).toMatch(/^x\.yaml:8: subscriber\.anti_entropy: /);
  });

  it('agent accept/reject patterns cannot hold ":" (the shim reads them colon-separated)', () => {
    const agent = (reject: string): string => `${GOOD}agent:\n  base_url: sftp://opsm@hpc1/\n  reject: [${JSON.stringify(reject)}]\n`;
    expect(parseConfig(agent('*.tmp'), 'x.yaml').agent!.reject).toEqual(['*.tmp']);
    expect(configError(agent('a:b'))).toMatch(/agent\.reject\.0: .*":"/);
    expect(configError(agent(''))).toMatch(/agent\.reject\.0: /);
  });

  it('a missing config file is its own error', () => {
    expect(() => loadConfig('/nonexistent/hpcm.yaml')).toThrow(/\/nonexistent\/hpcm\.yaml: cannot read config \(ENOENT\)/);
  });
});

describe('credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hpcm-cred-'));
  const file = join(dir, 'credentials.conf');
  writeFileSync(file, '# broker\namqp://opsm:s3cret@localhost:5672/\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a world-readable file, saying why', () => {
    chmodSync(file, 0o644);
    expect(() => readCredentials(file)).toThrow(/mode 644; it must be 600 \(chmod 600 /);
    try { readCredentials(file); } catch (e) { expect((e as HpcmError).code).toBe('HPM_CONFIG_INSECURE'); }
  });

  it('fills the password into the broker URL and redacts it for display', () => {
    chmodSync(file, 0o600);
    const url = withCredentials('amqp://opsm@localhost:5672/', readCredentials(file));
    expect(url).toBe('amqp://opsm:s3cret@localhost:5672/');
    expect(redactUrl(url)).not.toContain('s3cret');
    expect(readFileSync(file, 'utf8')).toContain('s3cret');
  });
});
