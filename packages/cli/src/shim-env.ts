import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HpcmError, spoolDirFor, type LoadedConfig } from '@hpcmirror/core';

/** native-shim/build in this checkout (the CLI runs from packages/cli/dist). */
export function shimBuildDir(): string {
  return process.env.HPCM_SHIM_BUILD ?? fileURLToPath(new URL('../../../native-shim/build', import.meta.url));
}

/**
 * `$LIB` is left for ld.so to expand, so one LD_PRELOAD line serves 64-bit and 32-bit programs
 * (lib/x86_64-linux-gnu or lib/i386-linux-gnu on Debian) without an ld.so warning.
 */
export function shimPreload(): string {
  const build = shimBuildDir();
  if (!existsSync(build)) throw new HpcmError('HPM_USAGE', `the shim is not built (${build} missing): run \`make -C native-shim\` or \`npm run build\``);
  return `${build}/$LIB/libhpcmshim.so`;
}

/** The environment that turns the shim on for a process tree, from an agent config. */
export function shimEnvironment(cfg: LoadedConfig): Record<string, string> {
  const agent = cfg.agent;
  const env: Record<string, string> = {
    LD_PRELOAD: shimPreload(),
    HPCM_SHIM: '1',
    HPCM_ROOTS: cfg.source_root,
    HPCM_SPOOL_DIR: spoolDirFor(cfg),
  };
  if (agent?.reject.length) env.HPCM_REJECT = agent.reject.join(':');
  if (agent?.accept.length) env.HPCM_ACCEPT = agent.accept.join(':');
  if (agent?.bucket_s) env.HPCM_SPOOL_BUCKET_S = String(agent.bucket_s);
  if (agent?.spool_max_bytes) env.HPCM_SPOOL_MAX_BYTES = String(agent.spool_max_bytes);
  return env;
}

const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/** `export K='v'` lines for `eval "$(hpcmirror shim env)"`. */
export function renderExports(env: Record<string, string>): string {
  return Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`).join('\n') + '\n';
}
