import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { COMPONENTS, type Component } from './components.js';
import type { FlowTarget } from './config-targets.js';
import { PLAIN_INSTANCE, unitName, unitTemplateKnown, userManagerRunning, type Systemctl } from './systemd-user.js';

/** What this node offers for running components: a systemd user manager with our unit templates, or not. */
export interface ManagerContext {
  systemctl: Systemctl;
  userManager: boolean;
  templates: ReadonlySet<Component>;
}

export async function managerContext(systemctl: Systemctl): Promise<ManagerContext> {
  const userManager = await userManagerRunning(systemctl).catch(() => false);
  const templates = new Set<Component>();
  if (userManager) {
    for (const c of COMPONENTS) if (await unitTemplateKnown(systemctl, c).catch(() => false)) templates.add(c);
  }
  return { systemctl, userManager, templates };
}

/**
 * The unit that runs `component` of `target`, when systemd does: a user manager is running, the
 * template is installed, and the config is where the unit reads it (~/.config/hpcmirror/NAME.yaml).
 * Otherwise undefined: the component runs as a background process with a pid file.
 */
export function systemdUnitFor(ctx: ManagerContext, target: Pick<FlowTarget, 'name' | 'configFile' | 'sandboxDir'>, component: Component): string | undefined {
  if (!ctx.userManager || target.sandboxDir !== undefined || !ctx.templates.has(component) || !PLAIN_INSTANCE.test(target.name)) return undefined;
  const expected = join(homedir(), '.config', 'hpcmirror', `${target.name}.yaml`);
  return resolve(target.configFile) === expected ? unitName(component, target.name) : undefined;
}
