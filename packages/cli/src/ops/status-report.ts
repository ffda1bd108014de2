import type { StatusConfig } from '@hpcmirror/core';
import type { Component } from './components.js';
import type { BrokerView } from './queue-depths.js';
import type { SpoolView } from './spool-inspect.js';

export type ShownState = 'running' | 'starting' | 'stopping' | 'stopped' | 'failed' | 'not reporting';
export type Manager = 'systemd' | 'background' | 'sandbox' | 'foreground';

/** One component process (or the absence of one) as `status` shows it. */
export interface ComponentStatus {
  component: Component;
  instance?: string;
  state: ShownState;
  /** What runs it: a systemd user unit, `hpcmirror start` without systemd, the sandbox, or a shell. */
  manager: Manager | null;
  /** Meant to be running: an enabled or active unit, started by `hpcmirror start`, part of the sandbox, or it did not stop cleanly. */
  expected: boolean;
  pid: number | null;
  startedAt: string | null;
  uptimeS: number | null;
  /** Seconds since the component last wrote its status file. */
  reportAgeS: number | null;
  /** Per second, the component's own counters over the last ~10 s. */
  rates: Record<string, number>;
  /** Agent: age of the oldest announced event not yet applied, and how many are pending. */
  lagS: number | null;
  pending: number | null;
  /** Retries since start (agent publish retries, winnow failed forwards, subscriber retries). */
  retries: number | null;
  /** Messages this process parked since start. */
  parked: number | null;
  /** Agent: the shim's spool on this node. */
  spool?: SpoolView;
  /** Watch: the trees it watches, inotify watches held, and spool records it could not write. */
  watch?: { trees: number; watches: number; pending: number; recordsLost: number };
  /** Running, but not doing its work fully: why (a subscriber whose source host is unreachable). */
  degraded?: string;
  /** Subscriber: the delete guard. */
  deletes?: { paused: boolean; pausedSince: string | null; alert: string | null };
  unit?: string;
  logFile?: string;
  metricsUrl?: string;
  error?: string;
  /** The component's own metrics() as last reported (JSON only). */
  metrics?: unknown;
}

export interface FlowStatus {
  /** Config name (systemd instance) or "sandbox". */
  name: string;
  flow: string;
  configFile: string;
  sandboxDir?: string;
  broker: BrokerView;
  components: ComponentStatus[];
  thresholds: StatusConfig;
}

export type CheckLevel = 0 | 1 | 2;

export interface CheckResult {
  level: CheckLevel;
  label: 'OK' | 'WARNING' | 'CRITICAL';
  problems: { level: CheckLevel; text: string }[];
  /** The single line for monitoring systems (Nagios plugin format, with perfdata). */
  line: string;
}

export interface StatusReport {
  generatedAt: string;
  host: string;
  flows: FlowStatus[];
  check: CheckResult;
}
