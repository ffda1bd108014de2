import { SubscriberError } from './errors.js';

/**
 * messages.md "Validation on receipt": a baseUrl whose scheme/host is not allowed is parked. The
 * subscriber never connects where a message says (it uses its configured transport), so this check
 * keeps messages about some other host's files from being mirrored from ours.
 *
 * Entries: `scheme:` (any host), `scheme://host`, `scheme://user@host[:port]`. A scheme of `*` matches
 * any scheme. Host names compare case-insensitively.
 */
interface AllowEntry {
  scheme: string;
  host?: string;
  user?: string;
  port?: string;
}

export class BaseUrlAllow {
  readonly #entries: AllowEntry[];
  readonly description: string;

  constructor(entries: readonly string[]) {
    this.#entries = entries.map(parseEntry);
    this.description = entries.join(', ');
  }

  /** The default list: file: for a local transport, the ssh host under any ssh-ish scheme otherwise. */
  static forTransport(transport: 'local' | 'sftp' | 'rsync', sshHost: string | undefined): BaseUrlAllow {
    if (transport === 'local' || !sshHost) return new BaseUrlAllow(['file:']);
    return new BaseUrlAllow(['sftp', 'rsync', 'rsync+ssh', 'ssh', 'scp'].map((s) => `${s}://${sshHost}`));
  }

  allows(baseUrl: string): boolean {
    let u: URL;
    try {
      u = new URL(baseUrl);
    } catch {
      return false;
    }
    const scheme = u.protocol.replace(/:$/, '').toLowerCase();
    return this.#entries.some((e) =>
      (e.scheme === '*' || e.scheme === scheme)
      && (e.host === undefined || e.host === u.hostname.toLowerCase())
      && (e.user === undefined || e.user === decodeURIComponent(u.username))
      && (e.port === undefined || e.port === u.port));
  }
}

function parseEntry(raw: string): AllowEntry {
  const m = /^([a-z*][a-z0-9+.-]*):(?:\/\/(?:([^@/]*)@)?([^/:]*)(?::(\d+))?)?\/?$/i.exec(raw.trim());
  if (!m) throw new SubscriberError('HPM_SUB_CONFIG', `subscriber.base_url_allow: ${JSON.stringify(raw)} is not scheme: or scheme://[user@]host[:port]`);
  const [, scheme, user, host, port] = m;
  return {
    scheme: scheme!.toLowerCase(),
    ...(host ? { host: host.toLowerCase() } : {}),
    ...(user ? { user: decodeURIComponent(user) } : {}),
    ...(port ? { port } : {}),
  };
}
