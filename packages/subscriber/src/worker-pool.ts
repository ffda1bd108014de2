/**
 * A size class's copy workers: at most `workers` applies run at once; the rest wait in arrival order.
 * (Messages waiting for a path lock do not hold a worker.)
 */
export class WorkerPool {
  readonly name: string;
  readonly workers: number;
  #busy = 0;
  readonly #queue: (() => void)[] = [];

  constructor(name: string, workers: number) {
    this.name = name;
    this.workers = workers;
  }

  get busy(): number {
    return this.#busy;
  }

  get queued(): number {
    return this.#queue.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#busy >= this.workers) await new Promise<void>((resolve) => this.#queue.push(resolve));
    else this.#busy++;
    try {
      return await fn();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#busy--;
    }
  }
}
