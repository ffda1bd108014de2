import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tlsListenerConf, tlsPaths } from './rabbitmq-tls.js';

/** Longer than any copy can take: a consumer holding a message this long is not stuck (semantics.md). */
export const CONSUMER_TIMEOUT_MS = 86_400_000;

export const BASE_PLUGINS = ['rabbitmq_consistent_hash_exchange'] as const;

export interface RabbitMQPorts {
  amqpPort: number;
  mgmtPort: number | null;
  distPort: number;
  epmdPort: number;
  /** amqps:// listener (sandbox CA in DIR/tls); absent or null: none. */
  tlsPort?: number | null;
}

export interface RabbitMQPaths {
  dir: string;
  mnesiaDir: string;
  logDir: string;
  configFile: string;
  advancedConfigFile: string;
  envFile: string;
  pluginsFile: string;
  pidFile: string;
  cookieFile: string;
  startupLog: string;
  epmdLog: string;
  /** CA, server certificate and key of the TLS listener. */
  tlsDir: string;
}

export function rabbitmqPaths(dir: string): RabbitMQPaths {
  return {
    dir,
    mnesiaDir: join(dir, 'mnesia'),
    logDir: join(dir, 'log'),
    configFile: join(dir, 'rabbitmq.conf'),
    advancedConfigFile: join(dir, 'advanced.config'),
    envFile: join(dir, 'rabbitmq-env.conf'),
    pluginsFile: join(dir, 'enabled_plugins'),
    pidFile: join(dir, 'rabbitmq.pid'),
    cookieFile: join(dir, '.erlang.cookie'),
    startupLog: join(dir, 'log', 'startup.log'),
    epmdLog: join(dir, 'log', 'epmd.log'),
    tlsDir: join(dir, 'tls'),
  };
}

export function rabbitmqConf(ports: RabbitMQPorts, tlsDir?: string): string {
  const lines = [
    `listeners.tcp.default = 127.0.0.1:${ports.amqpPort}`,
    'loopback_users = none',
    `consumer_timeout = ${CONSUMER_TIMEOUT_MS}`,
    // Small sandbox disks must not trip a disk alarm that silently blocks publishers.
    'disk_free_limit.absolute = 20MB',
    'log.console = false',
    'log.file.level = info',
  ];
  if (ports.mgmtPort !== null) {
    lines.push(`management.tcp.port = ${ports.mgmtPort}`, 'management.tcp.ip = 127.0.0.1');
  }
  if (ports.tlsPort != null && tlsDir !== undefined) lines.push(...tlsListenerConf(ports.tlsPort, tlsPaths(tlsDir)));
  return `${lines.join('\n')}\n`;
}

export function enabledPlugins(management: boolean): string {
  const plugins: string[] = [...BASE_PLUGINS];
  if (management) plugins.push('rabbitmq_management');
  return `[${plugins.join(',')}].\n`;
}

/** Writes every file the node reads; the cookie is kept across runs so rabbitmqctl keeps working. */
export function writeRabbitMQFiles(paths: RabbitMQPaths, ports: RabbitMQPorts): void {
  mkdirSync(paths.mnesiaDir, { recursive: true });
  mkdirSync(paths.logDir, { recursive: true });
  writeFileSync(paths.configFile, rabbitmqConf(ports, paths.tlsDir));
  writeFileSync(paths.pluginsFile, enabledPlugins(ports.mgmtPort !== null));
  // Present and empty so the node never reads /etc/rabbitmq/rabbitmq-env.conf or advanced.config.
  writeFileSync(paths.envFile, '');
  writeFileSync(paths.advancedConfigFile, '[].\n');
  if (!existsSync(paths.cookieFile)) {
    const cookie = randomBytes(15).toString('hex').toUpperCase();
    writeFileSync(paths.cookieFile, cookie, { mode: 0o400 });
  }
}

/** Environment for the server and for rabbitmqctl: none of the caller's RABBITMQ_ or ERL_ variables leak in. */
export function rabbitmqEnv(paths: RabbitMQPaths, ports: RabbitMQPorts, nodeName: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('RABBITMQ_') && !key.startsWith('ERL_')) env[key] = value;
  }
  return {
    ...env,
    HOME: paths.dir,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_MNESIA_BASE: paths.mnesiaDir,
    RABBITMQ_LOG_BASE: paths.logDir,
    RABBITMQ_CONFIG_FILE: paths.configFile,
    RABBITMQ_ADVANCED_CONFIG_FILE: paths.advancedConfigFile,
    RABBITMQ_CONF_ENV_FILE: paths.envFile,
    RABBITMQ_ENABLED_PLUGINS_FILE: paths.pluginsFile,
    RABBITMQ_PID_FILE: paths.pidFile,
    RABBITMQ_DIST_PORT: String(ports.distPort),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    ERL_EPMD_PORT: String(ports.epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
}
