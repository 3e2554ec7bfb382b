import { err, ok, type Result } from "neverthrow";
import { systemClock, type Clock } from "../core/clock.js";
import { invalidInput, tenancyError } from "../core/errors.js";
import { noopMetricsSink, type TenantMetricsSink } from "../core/metrics-sink.js";
import { systemRandom, type RandomSource } from "../core/random.js";
import { parseWorkspaceId, type WorkspaceId } from "../core/workspace-id.js";
import { Checkpointer, DEFAULT_CHECKPOINTS, type CheckpointOptions } from "./checkpointer.js";
import { isStorableText } from "../core/text.js";
import type { AuditError } from "./errors.js";
import type { AppendReceipt, AuditEventInput, PreparedEvent, WorkspaceAuditEvent } from "./event.js";
import { exportEntries, type ExportManifest } from "./export.js";
import { pinRange } from "./export-pin.js";
import { DEFAULT_BATCH, GroupCommitter, laneOf, type BatchOptions } from "./group-commit.js";
import { MemoryAuditStore } from "./memory-store.js";
import { mirrorEvent, type AuditMirrorOptions } from "./mirror.js";
import { signPrune, type Checkpoint, type PruneRecord } from "./records.js";
import type { AuditPublicKeys, AuditSigner } from "./signing.js";
import type { AuditStore, BatchOutcome } from "./store.js";
import { pooledRandom } from "./random-pool.js";
import { parseQuery, runQuery, type QueryOptions, type QueryPage } from "./query.js";
import { DEFAULT_LIMITS, prepareEvent, timeOf, type AuditLimits } from "./validate.js";
import { verifyChain, type VerifyReport } from "./verify.js";

export interface AuditLoggerOptions {
  /** @default a new MemoryAuditStore (not durable) */
  readonly store?: AuditStore;
  /** Signs checkpoints and prune records; from `parseSigningKey(process.env.TENANCY_AUDIT_SIGNING_KEY)`. */
  readonly signer?: AuditSigner;
  /** Extra public keys (by key id) accepted by verify, e.g. keys rotated out. */
  readonly publicKeys?: AuditPublicKeys;
  readonly batch?: Partial<BatchOptions>;
  readonly checkpoints?: Partial<CheckpointOptions>;
  readonly limits?: Partial<AuditLimits>;
  readonly mirror?: AuditMirrorOptions;
  /** Called with every new checkpoint, for external anchoring (a bucket, a webhook, a log line). */
  readonly onCheckpoint?: (checkpoint: Checkpoint) => void;
  readonly metrics?: TenantMetricsSink;
  readonly clock?: Clock;
  readonly random?: RandomSource;
}

export type { QueryOptions, QueryPage } from "./query.js";

function positiveInteger(value: number, name: string, problems: string[]): void {
  if (!Number.isInteger(value) || value < 1) problems.push(`${name} must be a positive integer (got ${String(value)})`);
}

/**
 * A durable, tamper-evident, per-workspace audit log. `append` validates,
 * then waits for group commit: it resolves only after the entry is committed
 * and chained. See docs/audit.md.
 */
export class AuditLogger {
  readonly store: AuditStore;
  readonly #options: AuditLoggerOptions;
  readonly #limits: AuditLimits;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #lanes: GroupCommitter[];
  readonly #checkpointer: Checkpointer | undefined;
  readonly #metrics: TenantMetricsSink;
  #closed = false;

  constructor(options: AuditLoggerOptions = {}) {
    const batch = { ...DEFAULT_BATCH, ...options.batch };
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    const checkpoints = { ...DEFAULT_CHECKPOINTS, ...options.checkpoints };
    const problems: string[] = [];
    positiveInteger(batch.maxRows, "batch.maxRows", problems);
    positiveInteger(batch.maxInFlight, "batch.maxInFlight", problems);
    positiveInteger(batch.lanes, "batch.lanes", problems);
    if (!(batch.lingerMs >= 0)) problems.push("batch.lingerMs must be >= 0");
    positiveInteger(limits.maxMetadataBytes, "limits.maxMetadataBytes", problems);
    positiveInteger(limits.maxFieldLength, "limits.maxFieldLength", problems);
    positiveInteger(limits.maxTargets, "limits.maxTargets", problems);
    positiveInteger(checkpoints.everyEvents, "checkpoints.everyEvents", problems);
    positiveInteger(checkpoints.everyMs, "checkpoints.everyMs", problems);
    if (problems.length > 0) throw new TypeError(`invalid AuditLogger options: ${problems.join("; ")}`);
    this.#options = options;
    this.#limits = limits;
    this.store = options.store ?? new MemoryAuditStore();
    this.#clock = options.clock ?? systemClock;
    this.#random = pooledRandom(options.random ?? systemRandom);
    this.#metrics = options.metrics ?? noopMetricsSink;
    this.#checkpointer =
      options.signer === undefined
        ? undefined
        : new Checkpointer(this.store, options.signer, checkpoints, this.#clock, options.onCheckpoint);
    this.#lanes = Array.from(
      { length: batch.lanes },
      () => new GroupCommitter(this.store, batch, () => this.#clock.now(), (events, outcomes) => this.#afterCommit(events, outcomes)),
    );
  }

  /** Public keys verify accepts: the signer's plus any configured. */
  get publicKeys(): AuditPublicKeys {
    const signer = this.#options.signer;
    return { ...this.#options.publicKeys, ...(signer ? { [signer.keyId]: signer.publicKey } : {}) };
  }

  /**
   * Appends one event; resolves after it is committed. Bad input is a typed
   * Err and nothing is written. A repeated idempotency key returns the first
   * receipt with `duplicate: true`.
   */
  async append(event: AuditEventInput): Promise<Result<AppendReceipt, AuditError>> {
    if (this.#closed) return err(tenancyError("AuditLoggerClosed", "the audit logger is closed"));
    const prepared = prepareEvent(event, this.#limits, this.#clock, this.#random);
    if (prepared.isErr()) return err(prepared.error);
    const lane = this.#lanes[laneOf(prepared.value.workspaceId, this.#lanes.length)] as GroupCommitter;
    const outcome = await lane.submit(prepared.value);
    if (outcome.isErr()) return err({ ...outcome.error, workspaceId: prepared.value.workspaceId });
    return ok(receipt(prepared.value.workspaceId, outcome.value));
  }

  /** A handle bound to one workspace: `audit.workspace(id).append({ actor, action })`. */
  workspace(workspaceId: WorkspaceId): { append(event: WorkspaceAuditEvent): Promise<Result<AppendReceipt, AuditError>> } {
    return { append: (event) => this.append({ ...event, workspaceId }) };
  }

  #afterCommit(events: readonly PreparedEvent[], outcomes: readonly BatchOutcome[]): void {
    events.forEach((event, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined || outcome.duplicate) return;
      this.#metrics.add(event.workspaceId as WorkspaceId, "audit_events_total", 1);
      // The validated event, not the caller's input: a field validation drops (context.email) must not reach the log.
      if (this.#options.mirror !== undefined) {
        mirrorEvent(this.#options.mirror, event, { seq: outcome.seq, hash: Buffer.from(outcome.hash).toString("hex") });
      }
      this.#checkpointer?.observe(event.workspaceId, outcome);
    });
    this.#checkpointer?.maybeCheckpoint();
  }

  /** Signs and stores a checkpoint of the workspace's current head now. */
  async checkpoint(input: { workspaceId: string }): Promise<Result<Checkpoint | undefined, AuditError>> {
    if (!isObject(input)) return notAnObject("checkpoint");
    const id = parseWorkspaceId(input.workspaceId);
    if (id.isErr()) return err(id.error);
    if (this.#checkpointer === undefined) return err(tenancyError("SigningKeyMissing", "no signing key: set TENANCY_AUDIT_SIGNING_KEY"));
    await this.flush();
    return this.#checkpointer.checkpointNow(id.value);
  }

  /** Signed checkpoints of a workspace (to export for external anchoring). */
  async checkpoints(input: { workspaceId: string }): Promise<Result<Checkpoint[], AuditError>> {
    if (!isObject(input)) return notAnObject("checkpoints");
    const id = parseWorkspaceId(input.workspaceId);
    if (id.isErr()) return err(id.error);
    return this.store.checkpoints(id.value);
  }

  /** Recomputes the chain over [from, to]; reports the first bad seq and the kind of damage. */
  async verify(options: { workspaceId: string; from?: number; to?: number }): Promise<Result<VerifyReport, AuditError>> {
    if (!isObject(options)) return notAnObject("verify");
    const id = parseWorkspaceId(options.workspaceId);
    if (id.isErr()) return err(id.error);
    for (const bound of [options.from, options.to]) {
      if (bound !== undefined && (!Number.isSafeInteger(bound) || bound < 1)) return err(invalidInput("from/to must be positive integers"));
    }
    return verifyChain(this.store, this.publicKeys, { ...options, workspaceId: id.value });
  }

  /** One page of a workspace's entries, filtered, keyset-paginated on seq. */
  async query(options: QueryOptions): Promise<Result<QueryPage, AuditError>> {
    if (!isObject(options)) return notAnObject("query");
    const id = parseWorkspaceId(options.workspaceId);
    if (id.isErr()) return err(id.error);
    const query = parseQuery(options, id.value);
    if (query.isErr()) return err(query.error);
    return runQuery(this.store, query.value.store, query.value.target);
  }

  /**
   * Streams a range as NDJSON or CSV to `write` and returns the proof manifest,
   * with the exporter's signed statement of what it exported (see `pinRange`)
   * that `verifyExport` checks. A `write` that throws ends it with `ExportWriteFailed`.
   */
  async exportLog(options: {
    workspaceId: string;
    format: "ndjson" | "csv";
    write: (chunk: string) => void | Promise<void>;
    from?: number;
    to?: number;
  }): Promise<Result<ExportManifest, AuditError>> {
    if (!isObject(options)) return notAnObject("exportLog");
    const id = parseWorkspaceId(options.workspaceId);
    if (id.isErr()) return err(id.error);
    if (options.format !== "ndjson" && options.format !== "csv") return err(invalidInput('format must be "ndjson" or "csv"'));
    if (typeof options.write !== "function") return err(invalidInput("write must be a function taking each chunk"));
    for (const bound of [options.from, options.to]) {
      if (bound !== undefined && (!Number.isSafeInteger(bound) || bound < 1)) return err(invalidInput("from/to must be positive integers"));
    }
    const keys = this.publicKeys;
    const now = this.#clock.now();
    return exportEntries(this.store, {
      workspaceId: id.value,
      format: options.format,
      write: options.write,
      from: options.from ?? 1,
      to: options.to ?? null,
      publicKeys: keys,
      now,
      signRange: (statement, checkpoints) => pinRange(this.store, this.#options.signer, keys, statement, checkpoints),
    });
  }

  /** Erases personal values (and salts) of matching entries; the chain still verifies. */
  async erase(options: { workspaceId: string; seqs?: readonly number[]; actorId?: string }): Promise<Result<number, AuditError>> {
    if (!isObject(options)) return notAnObject("erase");
    const id = parseWorkspaceId(options.workspaceId);
    if (id.isErr()) return err(id.error);
    if (options.seqs === undefined && options.actorId === undefined) return err(invalidInput("erase needs seqs or actorId"));
    if (options.seqs !== undefined && (!Array.isArray(options.seqs) || !options.seqs.every((s) => Number.isSafeInteger(s) && s > 0))) {
      return err(invalidInput("seqs must be an array of positive integers"));
    }
    if (options.actorId !== undefined && !isStorableText(options.actorId)) {
      return err(invalidInput("actorId must be a string without U+0000 or lone surrogates"));
    }
    const match = { ...(options.seqs ? { seqs: options.seqs } : {}), ...(options.actorId !== undefined ? { actorId: options.actorId } : {}) };
    return this.store.erase(id.value, match);
  }

  /** Drops whole months before `before`, leaving a signed prune record per workspace. */
  async prune(input: { before: Date | number }): Promise<Result<PruneRecord[], AuditError>> {
    if (!isObject(input)) return notAnObject("prune");
    const { before } = input;
    const signer = this.#options.signer;
    if (signer === undefined) return err(tenancyError("SigningKeyMissing", "pruning needs a signing key for its records"));
    const beforeMs = timeOf(before);
    if (!Number.isFinite(beforeMs)) return err(invalidInput("before must be a valid date"));
    await this.flush();
    const prunedAt = new Date(this.#clock.now()).toISOString();
    return this.store.prune(beforeMs, (p) => signPrune(signer, { ...p, prunedAt }));
  }

  /** Waits until every accepted event is committed. */
  async flush(): Promise<void> {
    await Promise.all(this.#lanes.map((lane) => lane.flush()));
  }

  /** Stops accepting events, commits what waits, writes final checkpoints. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    await this.#checkpointer?.close();
  }
}

const isObject = (value: unknown): value is object => typeof value === "object" && value !== null;

/** The answer to a call whose one argument is not an object (there are no fields to read). */
function notAnObject(call: string): Result<never, AuditError> {
  return err(invalidInput(`${call} expects one object argument`));
}

function receipt(workspaceId: string, o: BatchOutcome): AppendReceipt {
  return {
    workspaceId,
    seq: o.seq,
    hash: (Buffer.isBuffer(o.hash) ? o.hash : Buffer.from(o.hash)).toString("hex"),
    recordedAt: new Date(o.recordedAtMs),
    duplicate: o.duplicate,
  };
}
