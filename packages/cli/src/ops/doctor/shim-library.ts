import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { shimBuildDir } from '../../shim-env.js';
import { fail, ok, type DoctorResult } from './doctor-result.js';

const CHECK = 'shim library';

/**
 * The preload line `shim env` writes resolves to a library that ld.so really loads: a program run
 * under it (with the shim passive, HPCM_SHIM=0) has it in its memory map.
 */
export async function checkShimLibrary(): Promise<DoctorResult> {
  const build = shimBuildDir();
  if (!existsSync(build)) return fail(CHECK, `${build} missing: build it (make -C native-shim, or npm run build)`);
  const preload = `${build}/$LIB/libhpcmshim.so`;
  const r = await new Promise<{ stdout: string; stderr: string; err: Error | null }>((resolve) => {
    execFile('/bin/cat', ['/proc/self/maps'], { env: { PATH: '/usr/bin:/bin', LD_PRELOAD: preload, HPCM_SHIM: '0' }, timeout: 10_000, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ stdout, stderr, err }));
  });
  const mapped = r.stdout.split('\n').find((l) => l.includes('libhpcmshim.so'));
  if (mapped) return ok(CHECK, `loads: ${mapped.trim().split(/\s+/).pop()}`);
  const why = r.stderr.trim().split('\n')[0] || r.err?.message || 'not in the memory map of a preloaded program';
  return fail(CHECK, `${preload} does not load: ${why}`);
}
