/**
 * The smallest logger shape the sandbox needs; a pino logger fits it. Kept local so the sandbox
 * does not depend on @hpcmirror/core while core is still settling.
 */
export interface SandboxLogger {
  info(objOrMsg: object | string, msg?: string): void;
  warn(objOrMsg: object | string, msg?: string): void;
  error(objOrMsg: object | string, msg?: string): void;
  debug(objOrMsg: object | string, msg?: string): void;
}

const ignore = (): void => undefined;

export const silentLogger: SandboxLogger = { info: ignore, warn: ignore, error: ignore, debug: ignore };
