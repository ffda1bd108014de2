import type { Config } from '@hpcmirror/core';

/**
 * The long-running components, in data-flow order (start order; stop goes the other way). `watch`
 * (`hpcmirror watch`) feeds the agent's spool beside the shim, on the agent's node.
 */
export const COMPONENTS = ['agent', 'watch', 'winnow', 'subscriber'] as const;
export type Component = (typeof COMPONENTS)[number];

export function isComponent(name: string): name is Component {
  return (COMPONENTS as readonly string[]).includes(name);
}

/** The components a config runs on its node: one per section it has (`agent:`, `watch:`, `winnow:`, `subscriber:`). */
export function componentsOf(cfg: Pick<Config, 'agent' | 'watch' | 'winnow' | 'subscriber'>): Component[] {
  return COMPONENTS.filter((c) => cfg[c] !== undefined);
}

/** `agent`, `winnow` or `winnow-1` (a winnow started with `--instance 1`). */
export function componentLabel(component: Component, instance?: string): string {
  return instance === undefined ? component : `${component}-${instance}`;
}
