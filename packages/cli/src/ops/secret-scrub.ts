import { readFileSync } from 'node:fs';
import type { LoadedConfig } from '@hpcmirror/core';
import { expandHome } from '../context.js';

/**
 * Last line of defence for anything a command prints: the broker passwords of the configs it
 * read, replaced by ***. (Messages are built from redacted URLs already; this catches what a
 * library might echo.) RabbitMQ's well-known default "guest" is left alone.
 */
export function secretsOf(configs: readonly Pick<LoadedConfig, 'broker' | 'credentials'>[]): string[] {
  const out = new Set<string>();
  const addFrom = (url: string): void => {
    try {
      const raw = new URL(url).password;
      if (!raw || raw === 'guest') return;
      out.add(raw);
      out.add(decodeURIComponent(raw));
    } catch {
      // Not a URL: nothing to hide in it.
    }
  };
  for (const c of configs) {
    addFrom(c.broker.url);
    // Also every password of the credentials file, even one hpcmirror refuses to use (mode not 600).
    if (!c.credentials) continue;
    let text = '';
    try {
      text = readFileSync(expandHome(c.credentials), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) if (line.trim() && !line.trim().startsWith('#')) addFrom(line.trim());
  }
  return [...out].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}
