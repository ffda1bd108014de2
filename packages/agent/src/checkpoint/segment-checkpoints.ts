/** A run of records read from one segment, done once all its announcements are confirmed. */
export interface CheckpointUnit {
  readonly segment: string;
  readonly end: number;
  /** One more announcement of this unit is in flight. */
  hold(): void;
  /** One announcement confirmed (or the unit's processing finished). */
  release(): void;
}

interface SegmentProgress {
  checkpoint: number;
  units: { end: number; pending: number }[];
}

/**
 * Per segment, the offset up to which every record is confirmed by the broker: units complete in
 * any order, the checkpoint only moves over a prefix of complete units (the lowest unconfirmed
 * record holds it back).
 */
export class SegmentCheckpoints {
  readonly #segments = new Map<string, SegmentProgress>();
  readonly #onAdvance: (segment: string, checkpoint: number) => void;

  constructor(onAdvance: (segment: string, checkpoint: number) => void = () => undefined) {
    this.#onAdvance = onAdvance;
  }

  /** Starts tracking a segment at a persisted checkpoint (0 for a new one). */
  track(segment: string, checkpoint: number): void {
    if (!this.#segments.has(segment)) this.#segments.set(segment, { checkpoint, units: [] });
  }

  clear(): void {
    this.#segments.clear();
  }

  forget(segment: string): void {
    this.#segments.delete(segment);
  }

  checkpoint(segment: string): number | undefined {
    return this.#segments.get(segment)?.checkpoint;
  }

  /** Whether records of this segment are still in flight. */
  busy(segment: string): boolean {
    return (this.#segments.get(segment)?.units.length ?? 0) > 0;
  }

  segments(): string[] {
    return [...this.#segments.keys()];
  }

  /** A unit covering records up to `end`, held once for its own processing (release when done). */
  begin(segment: string, end: number): CheckpointUnit {
    const seg = this.#segments.get(segment);
    if (!seg) throw new Error(`segment ${segment} is not tracked`);
    const unit = { end, pending: 1 };
    seg.units.push(unit);
    return {
      segment,
      end,
      hold: () => { unit.pending += 1; },
      release: () => {
        unit.pending -= 1;
        if (unit.pending === 0) this.#advance(segment, seg);
      },
    };
  }

  #advance(segment: string, seg: SegmentProgress): void {
    const before = seg.checkpoint;
    while (seg.units.length && seg.units[0]!.pending <= 0) seg.checkpoint = seg.units.shift()!.end;
    if (seg.checkpoint !== before) this.#onAdvance(segment, seg.checkpoint);
  }
}
