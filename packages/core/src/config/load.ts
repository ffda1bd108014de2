import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { HpcmError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

export interface LoadedConfig extends Config {
  /** The file it came from, for messages. */
  readonly configFile: string;
  readonly user: string;
  readonly exchange: string;
}

function lineOf(doc: Document, lc: LineCounter, path: readonly PropertyKey[]): number {
  // Walk down as far as the path exists; an unknown or missing key reports its parent's line.
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
    const keyNode = n > 0 ? findKeyNode(doc, path.slice(0, n)) : undefined;
    const range = keyNode?.range ?? node?.range;
    if (range) return lc.linePos(range[0]).line;
  }
  return 1;
}

function findKeyNode(doc: Document, path: readonly PropertyKey[]): { range?: [number, number, number] } | undefined {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1) as unknown[], true);
  if (!isMap(parent)) return undefined;
  const last = path[path.length - 1];
  const pair = parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === last);
  return pair?.key as { range?: [number, number, number] } | undefined;
}

function describeIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; text: string } {
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    return { path: [...path, key], text: `${[...path, key].join('.')}: unknown key${issue.keys.length > 1 ? `s ${issue.keys.join(', ')}` : ''}` };
  }
  const where = path.length ? path.join('.') : '(top level)';
  return { path, text: `${where}: ${issue.message}` };
}

/** Parses and validates a config text; errors are `file:line: key: what is wrong` (HPM_CONFIG_INVALID). */
export function parseConfig(text: string, file: string): LoadedConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = lc.linePos(e.pos[0]).line;
    throw new HpcmError('HPM_CONFIG_INVALID', `${file}:${line}: YAML: ${e.message.split('\n')[0]}`);
  }
  const data = doc.toJS() ?? {};
  if (isSeq(doc.contents) || typeof data !== 'object') {
    throw new HpcmError('HPM_CONFIG_INVALID', `${file}:1: (top level): must be a mapping of keys`);
  }
  const result = configSchema.safeParse(data);
  if (!result.success) {
    // A misspelt key also shows up as the right key missing; the unknown key is the cause to name.
    const issues = result.error.issues;
    const { path, text: what } = describeIssue(issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!);
    throw new HpcmError('HPM_CONFIG_INVALID', `${file}:${lineOf(doc, lc, path)}: ${what}`, { field: path.join('.') });
  }
  const cfg = result.data;
  const user = cfg.user ?? userInfo().username;
  return { ...cfg, user, exchange: cfg.exchange ?? `xs_${user}_${cfg.flow}`, configFile: file };
}

export function loadConfig(file: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HpcmError(code === 'ENOENT' ? 'HPM_CONFIG_NOT_FOUND' : 'HPM_CONFIG_INVALID', `${file}: cannot read config (${code ?? String(err)})`, { cause: err });
  }
  return parseConfig(text, file);
}
