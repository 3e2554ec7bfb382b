/**
 * How group commit forms batches when callers wait for their appends before
 * making the next one (a request handler awaiting its audit event):
 *
 *  - merged: every waiting caller joins one batch. While it commits, Node is
 *    idle; while the callers prepare their next events, Postgres is idle.
 *  - split: the callers form two halves that alternate, so one half's batch
 *    commits while the other half prepares its next events. Node and Postgres
 *    work at the same time, but there are twice as many commits.
 *
 * Split wins when preparing a batch's events takes longer than a commit's
 * fixed cost (fast disks, many callers) and loses when commits are slow
 * (fsync latency dominates) or callers are few. Neither can be predicted from
 * configuration, so this measures: it runs each mode for a window of batches,
 * keeps the one with the higher throughput (split must win by 5%, since it
 * costs the database more commits), and re-tries the other mode every few
 * windows in case the load changed. A window interrupted by an idle spell is
 * discarded.
 */
/** A gap between two commits longer than this is idleness, not throughput. */
const IDLE_MS = 100;

export class BatchingMode {
  #split = false;
  #windowStart: number | undefined;
  #last = 0;
  #events = 0;
  #batches = 0;
  #windows = 0;
  readonly #rate: { merged?: number; split?: number } = {};

  /**
   * @param now monotonic milliseconds (performance.now)
   * @param windowBatches batches per measurement window
   * @param exploreEvery every this many windows, run the mode that is not the best
   */
  constructor(
    private readonly now: () => number,
    private readonly windowBatches = 16,
    private readonly exploreEvery = 8,
  ) {}

  /** True while batches should be split in two alternating halves. */
  get split(): boolean {
    return this.#split;
  }

  /** Records a committed batch of `size` events; returns the mode for what follows. */
  completed(size: number): boolean {
    const now = this.now();
    const gap = now - this.#last;
    this.#last = now;
    // The first batch, or the first after an idle spell (which says nothing about either mode): a new window.
    if (this.#windowStart === undefined || gap > IDLE_MS) {
      this.#windowStart = now;
      this.#events = 0;
      this.#batches = 0;
      return this.#split;
    }
    this.#events += size;
    this.#batches++;
    if (this.#batches < this.windowBatches) return this.#split;
    const rate = this.#events / Math.max(now - this.#windowStart, 1e-3);
    const mode = this.#split ? "split" : "merged";
    const previous = this.#rate[mode];
    this.#rate[mode] = previous === undefined ? rate : (previous + rate) / 2;
    this.#windows++;
    const { merged, split } = this.#rate;
    if (split === undefined) this.#split = true;
    else if (merged === undefined) this.#split = false;
    else {
      const best = split > merged * 1.05;
      this.#split = this.#windows % this.exploreEvery === 0 ? !best : best;
    }
    this.#windowStart = now;
    this.#events = 0;
    this.#batches = 0;
    return this.#split;
  }
}
