import type { Config } from '@hpcmirror/core';

/** The long-running components, in data-flow order (start order; stop goes the other way). */
export const COMPONENTS = ['agent', 'winnow', 'subscriber'] as const;
export type Component = (typeof COMPONENTS)[number];

export function isComponent(name: string): name is Component {
  return (COMPONENTS as readonly string[]).includes(name);
}

/** The components a config runs on its node: one per section it has (`agent:`, `winnow:`, `subscriber:`). */
export function componentsOf(cfg: Pick<Config, 'agent' | 'winnow' | 'subscriber'>): Component[] {
  return COMPONENTS.filter((c) => cfg[c] !== undefined);
}

/** `agent`, `winnow` or `winnow-1` (a winnow started with `--instance 1`). */
export function componentLabel(component: Component, instance?: string): string {
  return instance === undefined ? component : `${component}-${instance}`;
}
