import { err, ok, type Result } from "neverthrow";
import type { Clock } from "../core/clock.js";
import type { SqlError } from "../core/postgres/result.js";
import { signCheckpoint, type Checkpoint } from "./records.js";
import type { AuditSigner } from "./signing.js";
import type { AuditStore, BatchOutcome } from "./store.js";

export interface CheckpointOptions {
  /** Sign a checkpoint after this many new events in a workspace. @default 1000 */
  readonly everyEvents: number;
  /** …or this long after the last one, if anything was appended. @default 60000 */
  readonly everyMs: number;
}

export const DEFAULT_CHECKPOINTS: CheckpointOptions = { everyEvents: 1_000, everyMs: 60_000 };

interface State {
  signedSeq: number;
  signedAt: number;
  head: { seq: number; hash: Uint8Array } | undefined;
}

/**
 * Signs per-workspace checkpoints of committed heads, every N events or T
 * milliseconds. Runs after commit, off the append path: a checkpoint that
 * fails to save is retried with the next one, and never fails an append.
 * Several processes may checkpoint the same workspace; the store keeps one
 * per seq.
 */
export class Checkpointer {
  readonly #states = new Map<string, State>();
  readonly #timer: NodeJS.Timeout;
  #pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: AuditStore,
    private readonly signer: AuditSigner,
    private readonly options: CheckpointOptions,
    private readonly clock: Clock,
    private readonly onCheckpoint: ((c: Checkpoint) => void) | undefined,
  ) {
    this.#timer = setInterval(() => this.maybeCheckpoint(), Math.min(options.everyMs, 1_000));
    this.#timer.unref();
  }

  observe(workspaceId: string, outcome: BatchOutcome): void {
    let state = this.#states.get(workspaceId);
    if (state === undefined) {
      state = { signedSeq: 0, signedAt: this.clock.now(), head: undefined };
      this.#states.set(workspaceId, state);
    }
    if (state.head === undefined || outcome.seq > state.head.seq) state.head = { seq: outcome.seq, hash: outcome.hash };
  }

  /** Signs every workspace whose head is N events or T ms past its last checkpoint. */
  maybeCheckpoint(): void {
    const now = this.clock.now();
    for (const [workspaceId, state] of this.#states) {
      const head = state.head;
      if (head === undefined || head.seq <= state.signedSeq) continue;
      if (head.seq - state.signedSeq < this.options.everyEvents && now - state.signedAt < this.options.everyMs) continue;
      state.signedSeq = head.seq;
      state.signedAt = now;
      const checkpoint = signCheckpoint(this.signer, {
        workspaceId,
        seq: head.seq,
        headHash: Buffer.from(head.hash).toString("hex"),
        signedAt: new Date(now).toISOString(),
      });
      this.#pending = this.#pending.then(() => this.#save(checkpoint));
    }
  }

  async #save(checkpoint: Checkpoint): Promise<Result<Checkpoint, SqlError>> {
    const saved = await this.store.saveCheckpoint(checkpoint);
    if (saved.isErr()) {
      const state = this.#states.get(checkpoint.workspaceId);
      if (state !== undefined && state.signedSeq === checkpoint.seq) state.signedSeq = 0; // retry with the next batch
      return err(saved.error);
    }
    try {
      this.onCheckpoint?.(checkpoint);
    } catch {
      // Anchoring is the caller's; a throwing hook must not break the logger.
    }
    return ok(checkpoint);
  }

  /** Signs the committed head of one workspace now. */
  async checkpointNow(workspaceId: string): Promise<Result<Checkpoint | undefined, SqlError>> {
    await this.#pending;
    const head = await this.store.head(workspaceId);
    if (head.isErr()) return err(head.error);
    if (head.value === undefined) return ok(undefined);
    const now = this.clock.now();
    const checkpoint = signCheckpoint(this.signer, {
      workspaceId,
      seq: head.value.seq,
      headHash: Buffer.from(head.value.hash).toString("hex"),
      signedAt: new Date(now).toISOString(),
    });
    const state = this.#states.get(workspaceId);
    if (state !== undefined) {
      state.signedSeq = Math.max(state.signedSeq, checkpoint.seq);
      state.signedAt = now;
    }
    return this.#save(checkpoint);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const state of this.#states.values()) state.signedAt = Number.NEGATIVE_INFINITY;
    this.maybeCheckpoint();
    await this.#pending;
  }
}
