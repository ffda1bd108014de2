import { describe, expect, it } from 'vitest';
import { BaseUrlAllow } from '../src/base-url-allow.js';
import { isSubscriberError } from '../src/errors.js';

describe('BaseUrlAllow', () => {
  it('defaults to file: for the local transport', () => {
    const a = BaseUrlAllow.forTransport('local', undefined);
    expect(a.allows('file:/')).toBe(true);
    expect(a.allows('sftp://opsm@hpc1/')).toBe(false);
  });

  it('defaults to the configured ssh host under any ssh-like scheme', () => {
    const a = BaseUrlAllow.forTransport('sftp', 'hpc1-io');
    expect(a.allows('sftp://opsm@hpc1-io/')).toBe(true);
    expect(a.allows('rsync+ssh://opsm@HPC1-IO/')).toBe(true);
    expect(a.allows('sftp://opsm@hpc9/')).toBe(false);
    expect(a.allows('file:/')).toBe(false);
    expect(a.allows('not a url')).toBe(false);
  });

  it('honours user and port when an entry names them', () => {
    const a = new BaseUrlAllow(['sftp://opsm@hpc1:2222', 'https:']);
    expect(a.allows('sftp://opsm@hpc1:2222/')).toBe(true);
    expect(a.allows('sftp://other@hpc1:2222/')).toBe(false);
    expect(a.allows('sftp://opsm@hpc1/')).toBe(false);
    expect(a.allows('https://anything.example/')).toBe(true);
  });

  it('refuses a malformed entry at start with HPM_SUB_CONFIG', () => {
    let err: unknown;
    try { new BaseUrlAllow(['sftp//nope']); } catch (e) { err = e; }
    expect(isSubscriberError(err, 'HPM_SUB_CONFIG')).toBe(true);
  });
});
