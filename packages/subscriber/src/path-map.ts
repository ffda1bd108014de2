import { isUnder } from '@hpcmirror/core';
import { components, joinUnder } from './path-bytes.js';

/**
 * The prefix rule of messages.md "Path mapping": source_root/<rel> on the source is
 * destination_root/<rel> on the destination. Paths stay bytes throughout.
 */
export class PathMap {
  readonly sourceRoot: Buffer;
  readonly destinationRoot: Buffer;

  constructor(sourceRoot: Buffer, destinationRoot: Buffer) {
    this.sourceRoot = sourceRoot;
    this.destinationRoot = destinationRoot;
  }

  /** The components of `src` below source_root, or null when it is not under it. */
  relOf(src: Buffer): Buffer[] | null {
    if (!isUnder(src, this.sourceRoot)) return null;
    return components(src.subarray(this.sourceRoot.length));
  }

  sourceOf(rel: readonly Buffer[]): Buffer {
    return joinUnder(this.sourceRoot, rel);
  }

  destinationOf(rel: readonly Buffer[]): Buffer {
    return joinUnder(this.destinationRoot, rel);
  }
}
