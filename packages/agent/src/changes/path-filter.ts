import { AcceptRejectFilter, isUnder } from '@hpcmirror/core';

/**
 * Decides whether a path is announced: it must lie under source_root, match no `reject` glob and,
 * when `accept` is not empty, match one of them (reject wins over accept). The globs mean what they
 * mean to the subscriber (core's AcceptRejectFilter).
 */
export class PathFilter {
  readonly #root: Buffer;
  readonly #globs: AcceptRejectFilter;

  constructor(sourceRoot: Buffer, accept: readonly string[], reject: readonly string[]) {
    this.#root = sourceRoot.length > 1 && sourceRoot[sourceRoot.length - 1] === 0x2f ? sourceRoot.subarray(0, -1) : sourceRoot;
    this.#globs = new AcceptRejectFilter(accept, reject);
  }

  get root(): Buffer {
    return this.#root;
  }

  isInside(path: Buffer): boolean {
    return isUnder(path, this.#root);
  }

  /** Inside the root and accepted by the globs. */
  accepts(path: Buffer): boolean {
    return this.isInside(path) && this.#globs.accepts(path);
  }
}
