import { TransportError } from './errors.js';

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * start()/stop() bookkeeping shared by the transports: idempotent, one start or stop at a time, and a
 * guard for operations. A stopped transport may be started again.
 */
export class Lifecycle {
  readonly #name: string;
  #state: State = 'new';
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(name: string) {
    this.#name = name;
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  /** Throw unless operations are allowed now. */
  assertRunning(): void {
    if (this.#state === 'running') return;
    if (this.#state === 'new' || this.#state === 'starting') {
      throw new TransportError('HPM_TRANSPORT_NOT_STARTED', `${this.#name} transport used before start()`);
    }
    throw new TransportError('HPM_TRANSPORT_STOPPED', `${this.#name} transport is stopped`);
  }

  async start(work: () => Promise<void>): Promise<void> {
    if (this.#state === 'running') return;
    if (this.#starting) return this.#starting;
    if (this.#stopping) await this.#stopping;
    this.#state = 'starting';
    this.#starting = (async () => {
      try {
        await work();
        this.#state = 'running';
      } catch (err) {
        this.#state = 'stopped';
        throw err;
      } finally {
        this.#starting = undefined;
      }
    })();
    return this.#starting;
  }

  async stop(work: () => Promise<void>): Promise<void> {
    if (this.#state === 'new' || this.#state === 'stopped') return;
    if (this.#stopping) return this.#stopping;
    if (this.#starting) {
      await this.#starting.catch(() => undefined);
      if (!this.running) return;
    }
    this.#state = 'stopping';
    this.#stopping = (async () => {
      try {
        await work();
      } finally {
        this.#state = 'stopped';
        this.#stopping = undefined;
      }
    })();
    return this.#stopping;
  }
}
