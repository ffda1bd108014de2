import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  HpcmError, createLogger, loadConfig, readCredentials, withCredentials, type LoadedConfig, type Logger,
} from '@hpcmirror/core';

export type Role = 'agent' | 'winnow' | 'subscriber';

export interface ConfigSource {
  config?: string;
  sandbox?: string;
}

/** `~/x` as users write it in configs. */
export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

/** The config file a command should read: --config F, or the sandbox's config for that role. */
export function configFileFor(src: ConfigSource, role: Role): string {
  if (src.config && src.sandbox) throw new HpcmError('HPM_USAGE', 'give either --config or --sandbox, not both');
  if (src.config) return resolve(src.config);
  const dir = resolve(src.sandbox ?? process.env.HPCM_SANDBOX ?? '.hpcmirror-sandbox');
  // The sandbox runs every component of its forward flow from one config.
  void role;
  const file = join(dir, 'configs', 'forward.yaml');
  if (!existsSync(file)) {
    throw new HpcmError('HPM_CONFIG_NOT_FOUND', `${src.sandbox ? `no sandbox in ${dir}` : 'no --config given and no sandbox in ./.hpcmirror-sandbox'} (run \`hpcmirror sandbox up\` or pass --config FILE)`);
  }
  return file;
}

/**
 * Loads a config and fills the broker password from its credentials file (0600, checked) or,
 * where no file is configured, from HPCM_BROKER_PASSWORD (for units that take secrets from the
 * environment, e.g. systemd's LoadCredential or a batch system).
 */
export function loadRoleConfig(src: ConfigSource, role: Role, opts: { credentials?: boolean } = {}): LoadedConfig {
  const cfg = loadConfig(configFileFor(src, role));
  if (cfg.credentials && opts.credentials !== false) {
    const creds = readCredentials(expandHome(cfg.credentials));
    cfg.broker.url = withCredentials(cfg.broker.url, creds);
  } else if (process.env.HPCM_BROKER_PASSWORD && opts.credentials !== false) {
    const u = new URL(cfg.broker.url);
    if (u.username && !u.password) {
      u.password = process.env.HPCM_BROKER_PASSWORD;
      cfg.broker.url = u.toString();
    }
  }
  return cfg;
}

export function loggerFor(cfg: LoadedConfig, component: string): Logger {
  return createLogger(component, { level: cfg.log.level, format: cfg.log.format, ...(cfg.log.file && { file: expandHome(cfg.log.file) }) });
}

/** The sandbox state file (`DIR/sandbox.json`), parsed. */
export function readSandboxState(dir: string): Record<string, unknown> {
  const file = join(resolve(dir), 'sandbox.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    throw new HpcmError('HPM_CONFIG_NOT_FOUND', `${file}: no sandbox there (run \`hpcmirror sandbox up --dir ${dir}\`)`);
  }
}
