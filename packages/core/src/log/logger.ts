import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export interface LoggerSettings {
  level?: string;
  /** auto: pretty on a TTY, JSON otherwise. */
  format?: 'auto' | 'json' | 'pretty';
  /** Append JSON lines to this file instead of stdout. */
  file?: string;
  /** JSON lines to stderr instead of stdout (commands whose stdout is their result). */
  stderr?: boolean;
}

/** One logger per component; passwords in URLs never reach the output. */
export function createLogger(component: string, settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    name: component,
    level: settings.level ?? process.env.HPCM_LOG_LEVEL ?? 'info',
    redact: { paths: ['password', '*.password', 'credentials', '*.credentials'], censor: '***' },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (settings.file) return pino(options, pino.destination({ dest: settings.file, mkdir: true, sync: false }));
  if (settings.stderr) return pino(options, pino.destination({ dest: 2, sync: true }));
  const pretty = settings.format === 'pretty' || (settings.format !== 'json' && process.stdout.isTTY === true);
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options);
}

/** A logger that drops everything, for tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
