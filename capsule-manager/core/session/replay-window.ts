// Anti-replay for a release session's sequence numbers (the sliding window of
// RFC 4303 3.4.3 / RFC 6479): a seq is accepted once; seqs may arrive out of
// order within the window below the highest accepted; older ones are refused.
// Pure, synchronous: check and record happen in one call, so two concurrent
// copies of one message cannot both pass.

/** How far below the highest accepted seq a late message may still arrive. */
export const REPLAY_WINDOW = 1024;

export type SeqVerdict = 'ok' | 'replayed' | 'too-old';

export class ReplayWindow {
  /** The highest seq accepted (0: none yet). */
  private top = 0;
  /** Bit (seq mod REPLAY_WINDOW) set: seq was accepted, for seq in (top - REPLAY_WINDOW, top]. */
  private readonly seen = new Uint32Array(REPLAY_WINDOW / 32);

  /** Accepts and records `seq` (a positive safe integer), or says why not; a refused seq records nothing. */
  take(seq: number): SeqVerdict {
    if (!Number.isSafeInteger(seq) || seq < 1) return 'too-old';
    if (seq > this.top) {
      // Slide: positions of the seqs now leaving the window are cleared.
      if (seq - this.top >= REPLAY_WINDOW) this.seen.fill(0);
      else for (let s = this.top + 1; s <= seq; s++) this.clear(s);
      this.top = seq;
      this.mark(seq);
      return 'ok';
    }
    if (this.top - seq >= REPLAY_WINDOW) return 'too-old';
    if (this.isSet(seq)) return 'replayed';
    this.mark(seq);
    return 'ok';
  }

  private pos(seq: number): [number, number] {
    const i = seq % REPLAY_WINDOW;
    return [i >>> 5, 1 << (i & 31)];
  }
  private isSet(seq: number): boolean {
    const [w, b] = this.pos(seq);
    return (this.seen[w]! & b) !== 0;
  }
  private mark(seq: number): void {
    const [w, b] = this.pos(seq);
    this.seen[w]! |= b;
  }
  private clear(seq: number): void {
    const [w, b] = this.pos(seq);
    this.seen[w]! &= ~b;
  }
}
