import { chmodSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { runCommand } from './run-command.js';

/**
 * Makes an ed25519 key pair at `path` (+ `.pub`) unless one is there already, so host keys and
 * known_hosts stay stable across restarts. Returns the public key line ("ssh-ed25519 AAAA... comment").
 */
export async function ensureKeyPair(path: string, comment: string): Promise<string> {
  if (!existsSync(path) || !existsSync(`${path}.pub`)) {
    // ssh-keygen would stop to ask before overwriting half a pair.
    rmSync(path, { force: true });
    rmSync(`${path}.pub`, { force: true });
    await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], {
      timeoutMs: 15_000,
      field: 'sshd',
    });
  }
  chmodSync(path, 0o600);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}
