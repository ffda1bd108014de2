import { execFile, spawn } from 'node:child_process';
import type { BrokerConfig, SubscriberConfig } from '@hpcmirror/core';
import { expandHome } from '../../context.js';
import { managementServerDate } from '../management-api.js';
import { fail, ok, skip, warn, type DoctorResult } from './doctor-result.js';

type SshConfig = NonNullable<SubscriberConfig['ssh']>;

interface Run { code: number; stdout: string; stderr: string; ms: number }

function run(file: string, args: string[], timeoutMs: number): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 127) : 0, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/**
 * `date +%s%N` on the source over ssh, with the local time its output arrived: the remote clock
 * was read just before, so connection setup (seconds on a loaded host) does not blur the offset.
 */
function remoteDate(args: string[], timeoutMs: number): Promise<{ remoteMs: number; localMs: number } | undefined> {
  return new Promise((resolve) => {
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutMs });
    let out = '';
    let arrivedMs = 0;
    child.stdout.on('data', (c: Buffer) => {
      if (!arrivedMs) arrivedMs = Date.now();
      out += c.toString('utf8');
    });
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      const text = out.trim();
      resolve(code === 0 && /^\d{12,}$/.test(text) ? { remoteMs: Number(BigInt(text) / 1_000_000n), localMs: arrivedMs } : undefined);
    });
  });
}

/** The ssh client with the subscriber's key and known_hosts, host key checking strict. */
export function sshArgs(ssh: SshConfig, timeoutS: number): string[] {
  return [
    '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${expandHome(ssh.known_hosts)}`,
    '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes', '-o', `ConnectTimeout=${timeoutS}`,
    '-i', expandHome(ssh.identity_file), '-p', String(ssh.port), `${ssh.user}@${ssh.host}`,
  ];
}

export interface ClockSources {
  broker?: Pick<BrokerConfig, 'url' | 'tls'>;
  managementUrl?: string | undefined;
  ssh?: SshConfig | undefined;
}

/**
 * Clocks in sync enough: wait's and failover's time arithmetic and the latency report compare
 * times taken on different hosts. Offsets are measured against the broker's management API (HTTP
 * Date, whole seconds) and the ssh source host (`date +%s%N`, half the round trip as error); NTP
 * synchronisation is read from timedatectl where systemd offers it.
 */
export async function checkClock(src: ClockSources, maxSkewS: number): Promise<DoctorResult> {
  const check = 'clock';
  const seen: string[] = [];
  const bad: string[] = [];
  const ntp = await run('timedatectl', ['show', '--property=NTPSynchronized', '--value'], 5_000);
  const ntpState = ntp.code === 0 ? ntp.stdout.trim() : '';
  if (src.managementUrl && src.broker) {
    try {
      const d = await managementServerDate(src.managementUrl, src.broker);
      // The HTTP Date has whole seconds: the server's clock was somewhere in [date, date + 1 s).
      const offsetS = (d.serverMs + 500 - d.localMs) / 1000;
      const slackS = 0.5 + d.rttMs / 2000;
      seen.push(`broker ${offsetS >= 0 ? '+' : ''}${offsetS.toFixed(1)}s (±${slackS.toFixed(1)})`);
      if (Math.abs(offsetS) - slackS > maxSkewS) bad.push(`broker clock off by ${offsetS.toFixed(1)} s`);
    } catch {
      // No management API answer: other sources may still tell.
    }
  }
  if (src.ssh) {
    const d = await remoteDate([...sshArgs(src.ssh, 10), 'date +%s%N'], 10_000);
    if (d) {
      const offsetS = (d.remoteMs - d.localMs) / 1000;
      const slackS = 0.25;
      seen.push(`${src.ssh.host} ${offsetS >= 0 ? '+' : ''}${offsetS.toFixed(2)}s`);
      if (Math.abs(offsetS) - slackS > maxSkewS) bad.push(`${src.ssh.host} clock off by ${offsetS.toFixed(2)} s`);
    }
  }
  if (bad.length) return fail(check, `${bad.join('; ')} (more than status.clock_skew_max_s ${maxSkewS} s): sync the clocks (chrony, systemd-timesyncd)`);
  if (ntpState === 'no') return warn(check, `not NTP-synchronised (timedatectl)${seen.length ? `; offsets now: ${seen.join(', ')}` : ''}`);
  if (seen.length === 0 && ntpState !== 'yes') return skip(check, 'no reference: timedatectl unavailable, no management API, no ssh source');
  return ok(check, [ntpState === 'yes' ? 'NTP-synchronised' : '', seen.length ? `offsets ${seen.join(', ')}` : ''].filter(Boolean).join('; '));
}
