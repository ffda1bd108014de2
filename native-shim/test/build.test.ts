/**
 * The built library: exports exactly the wrapped functions, uses no stdio printing, and is laid
 * out for LD_PRELOAD='.../build/$LIB/libhpcmshim.so'.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildShim, SHIM_DIR } from './helpers/shim-harness.js';

const lib64 = join(SHIM_DIR, 'build', 'lib', 'x86_64-linux-gnu', 'libhpcmshim.so');
const lib32 = join(SHIM_DIR, 'build', 'lib', 'i386-linux-gnu', 'libhpcmshim.so');

const exported = (lib: string): string[] =>
  execFileSync('nm', ['-D', '--defined-only', lib], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.trim().split(/\s+/).at(-1)!.replace(/@.*$/, ''))
    .sort();

const wrapped = (): string[] =>
  [...readFileSync(join(SHIM_DIR, 'src', 'exports.map'), 'utf8').matchAll(/^\s+([A-Za-z0-9_]+);$/gm)].map((m) => m[1]!).sort();

beforeAll(() => buildShim());

describe('libhpcmshim.so', () => {
  it('exports only the wrapped functions', () => {
    expect(wrapped().length).toBeGreaterThan(60);
    // every wrapper defined in src/ is in the map (a missing one is silently hidden: remove() was)
    const defined = readdirSync(join(SHIM_DIR, 'src')).filter((f) => f.endsWith('.c'))
      .flatMap((f) => [...readFileSync(join(SHIM_DIR, 'src', f), 'utf8').matchAll(/^EXPORT\s[^(]*?\b([A-Za-z_]\w*)\s*\(/gm)].map((m) => m[1]!));
    expect(defined.sort()).toEqual(wrapped());
    expect(exported(lib64)).toEqual(wrapped());
    if (existsSync(lib32)) expect(exported(lib32)).toEqual(wrapped());
  });

  it('prints nothing, allocates nothing and never dials out (no broker to hang on)', () => {
    const undef = execFileSync('nm', ['-D', '--undefined-only', lib64], { encoding: 'utf8' });
    const banned = ['printf', 'fprintf', 'puts', 'fputs', 'perror', 'fwrite', 'vfprintf', 'malloc', 'calloc', 'free'];
    for (const fn of [...banned, 'socket', 'connect', 'getaddrinfo', 'atexit', '__cxa_atexit']) {
      expect(undef).not.toMatch(new RegExp(`\\s${fn}(@|$)`, 'm'));
    }
  });

  it('is laid out for $LIB (Debian multiarch and lib64), plus build/lib and build/lib32', () => {
    const out = execFileSync('bash', ['-c', `LD_DEBUG=libs LD_PRELOAD='${SHIM_DIR}/build/$LIB/libhpcmshim.so' HPCM_ROOTS= /bin/true 2>&1`], {
      encoding: 'utf8',
    });
    expect(out).toContain(`calling init: ${SHIM_DIR}/build/lib/`);
    expect(out).not.toMatch(/cannot be preloaded/);
    for (const p of ['build/lib64/libhpcmshim.so', 'build/lib/libhpcmshim.so']) expect(existsSync(join(SHIM_DIR, p))).toBe(true);
    if (existsSync(lib32)) expect(existsSync(join(SHIM_DIR, 'build/lib32/libhpcmshim.so'))).toBe(true);
  });

  // not timed: on a loaded 2-core machine a build took 57 s (speed belongs in bench/)
  it('builds from scratch with -Werror (into a separate dir: running tests keep theirs)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcm-shim-build-'));
    try {
      execFileSync('make', ['-s', '-C', SHIM_DIR, `B=${dir}`, `${dir}/lib/x86_64-linux-gnu/libhpcmshim.so`], { stdio: 'pipe' });
      expect(existsSync(join(dir, 'lib', 'x86_64-linux-gnu', 'libhpcmshim.so'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
