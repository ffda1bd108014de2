import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { HpcmError, type LoadedConfig } from '@hpcmirror/core';
import { configFileFor, loadRoleConfig, type ConfigSource } from '../context.js';
import { COMPONENTS, componentsOf, isComponent, type Component } from './components.js';

/** One config and the components of it a command acts on. */
export interface FlowTarget {
  /** The config's name: its file name without .yaml (the systemd instance name), or "sandbox". */
  name: string;
  configFile: string;
  /** Set with `--sandbox DIR`: the sandbox started these components and records their pids. */
  sandboxDir?: string;
  config: LoadedConfig;
  components: Component[];
}

/** Where the units read configs: ~/.config/hpcmirror (HPCM_CONFIG_DIR overrides it, e.g. for tests). */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HPCM_CONFIG_DIR ?? join(homedir(), '.config', 'hpcmirror');
}

const CONFIG_EXT = /\.ya?ml$/;

export function configName(file: string): string {
  return basename(file).replace(CONFIG_EXT, '');
}

/** `COMPONENT`, `COMPONENT/CONFIG` or `CONFIG` alone? Components are the three service names. */
export function parseTargetArg(arg: string | undefined): { component?: Component; config?: string } {
  if (!arg) return {};
  const [first, second, ...rest] = arg.split('/');
  if (rest.length || first === '' || second === '') throw new HpcmError('HPM_USAGE', `${arg}: expected COMPONENT or COMPONENT/CONFIG`);
  if (!isComponent(first!)) {
    throw new HpcmError('HPM_USAGE', `${arg}: unknown component "${first}" (one of ${COMPONENTS.join(', ')})`);
  }
  return { component: first, ...(second !== undefined && { config: second }) };
}

function configFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => CONFIG_EXT.test(n)).sort().map((n) => join(dir, n));
}

/**
 * The configs a command acts on: `--config F`; `--sandbox DIR`; `COMPONENT/CONFIG` (CONFIG.yaml in
 * the config dir); otherwise every config in the config dir, or, when it holds none, the sandbox in
 * $HPCM_SANDBOX or ./.hpcmirror-sandbox. Configs are loaded with their credentials (0600, checked)
 * unless `credentials: false` (doctor reads them itself, to report a bad file instead of stopping).
 */
export function resolveTargets(arg: string | undefined, src: ConfigSource, env: NodeJS.ProcessEnv = process.env, o: { credentials?: boolean } = {}): FlowTarget[] {
  const load = (s: ConfigSource): LoadedConfig => loadRoleConfig(s, 'agent', { credentials: o.credentials !== false });
  const { component, config: wanted } = parseTargetArg(arg);
  if (wanted !== undefined && (src.config || src.sandbox)) {
    throw new HpcmError('HPM_USAGE', `give either ${arg} or --config/--sandbox, not both`);
  }
  const pick = (all: Component[]): Component[] => (component ? all.filter((c) => c === component) : all);
  if (src.config || src.sandbox) {
    const file = configFileFor(src, 'agent');
    const config = load(src);
    // The sandbox runs agent, winnow and subscriber; a watcher only when its config has a watch: section.
    if (src.sandbox) return [{ name: 'sandbox', configFile: file, sandboxDir: resolve(src.sandbox), config, components: pick(COMPONENTS.filter((c) => c !== 'watch' || config.watch !== undefined)) }];
    return [{ name: configName(file), configFile: file, config, components: pick(componentsOf(config)) }];
  }
  const dir = configDir(env);
  if (wanted !== undefined) {
    const file = [join(dir, `${wanted}.yaml`), join(dir, `${wanted}.yml`)].find((f) => existsSync(f));
    if (!file) throw new HpcmError('HPM_CONFIG_NOT_FOUND', `no config "${wanted}" (${join(dir, `${wanted}.yaml`)} not found)`);
    const config = load({ config: file });
    return [{ name: wanted, configFile: file, config, components: pick(componentsOf(config)) }];
  }
  const files = configFilesIn(dir);
  if (files.length === 0) {
    const sandbox = resolve(env.HPCM_SANDBOX ?? '.hpcmirror-sandbox');
    if (existsSync(join(sandbox, 'sandbox.json'))) return resolveTargets(arg, { sandbox }, env, o);
    throw new HpcmError('HPM_CONFIG_NOT_FOUND', `no configs in ${dir} and no sandbox here (give --config FILE or --sandbox DIR)`);
  }
  return files.map((file) => {
    const config = load({ config: file });
    return { name: configName(file), configFile: file, config, components: pick(componentsOf(config)) };
  }).filter((t) => t.components.length > 0);
}
