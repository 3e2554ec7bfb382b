import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../core/errors.js";
import type { PoolClosedError, PoolQueueFullError, PoolTimeoutError } from "./errors.js";
import { WaitStats, type WaitSnapshot } from "./wait-stats.js";

export type AcquireError = PoolTimeoutError | PoolQueueFullError | PoolClosedError;

/** A granted slot; give it back exactly once with `release`. */
export interface Permit {
  readonly workspaceId: string;
  /** Milliseconds spent queued. */
  readonly waitedMs: number;
}

interface Waiter {
  readonly workspaceId: string;
  readonly enqueuedAt: number;
  readonly settle: (result: Result<Permit, AcquireError>) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface WorkspaceState {
  active: number;
  readonly queue: Waiter[];
  readonly waits: WaitStats;
  timeouts: number;
  rejected: number;
}

export interface SchedulerOptions {
  /** Total slots (the pool's size). */
  readonly size: number;
  /** Slots one workspace may hold at once. */
  readonly maxPerWorkspace: number;
  /** Requests one workspace may have queued; more are refused (backpressure). */
  readonly maxWaitingPerWorkspace: number;
  /** Idle workspaces whose statistics are kept; older idle ones are forgotten. */
  readonly maxTrackedWorkspaces: number;
  readonly now: () => number;
}

export interface WorkspacePoolMetrics {
  readonly active: number;
  readonly waiting: number;
  readonly timeouts: number;
  readonly rejected: number;
  readonly wait: WaitSnapshot;
}

/**
 * Fair slot scheduling across workspaces: each workspace has its own FIFO
 * queue and a cap on slots held; free slots go round-robin to the next
 * workspace (in ring order) that has a waiter and is under its cap. One
 * flooding workspace therefore holds at most `maxPerWorkspace` slots and
 * waits behind at most one grant per other waiting workspace.
 */
export class FairScheduler {
  readonly #options: SchedulerOptions;
  readonly #states = new Map<string, WorkspaceState>();
  /** Workspaces with waiters, in round-robin order (Map keeps insertion order). */
  readonly #ring = new Map<string, WorkspaceState>();
  #free: number;
  #closed = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#free = options.size;
  }

  get free(): number {
    return this.#free;
  }

  /** Waits for a slot for `workspaceId`, at most `timeoutMs`. */
  acquire(workspaceId: string, timeoutMs: number): Promise<Result<Permit, AcquireError>> {
    if (this.#closed) return Promise.resolve(err(tenancyError("PoolClosed", "the fair pool is closed", { workspaceId })));
    const state = this.#state(workspaceId);
    if (state.queue.length >= this.#options.maxWaitingPerWorkspace) {
      state.rejected++;
      return Promise.resolve(
        err(tenancyError("PoolQueueFull", `workspace already has ${state.queue.length} requests waiting`, { workspaceId, retryable: true })),
      );
    }
    return new Promise((settle) => {
      const waiter: Waiter = { workspaceId, enqueuedAt: this.#options.now(), settle, timer: undefined };
      state.queue.push(waiter);
      if (!this.#ring.has(workspaceId)) this.#ring.set(workspaceId, state);
      this.#dispatch();
      if (state.queue.includes(waiter)) {
        waiter.timer = setTimeout(() => this.#expire(state, waiter, timeoutMs), timeoutMs);
      }
    });
  }

  /** Returns a slot and hands it to the next fair waiter. */
  release(permit: Permit): void {
    const state = this.#states.get(permit.workspaceId);
    if (state === undefined || state.active === 0) return;
    state.active--;
    this.#free++;
    this.#dispatch();
    this.#forgetIdle();
  }

  /** Refuses new requests and fails every queued one. */
  close(): void {
    this.#closed = true;
    for (const state of this.#ring.values()) {
      for (const waiter of state.queue.splice(0)) {
        if (waiter.timer !== undefined) clearTimeout(waiter.timer);
        waiter.settle(err(tenancyError("PoolClosed", "the fair pool closed while waiting", { workspaceId: waiter.workspaceId })));
      }
    }
    this.#ring.clear();
  }

  metrics(): Map<string, WorkspacePoolMetrics> {
    const out = new Map<string, WorkspacePoolMetrics>();
    for (const [id, s] of this.#states) {
      out.set(id, { active: s.active, waiting: s.queue.length, timeouts: s.timeouts, rejected: s.rejected, wait: s.waits.snapshot() });
    }
    return out;
  }

  #state(workspaceId: string): WorkspaceState {
    let state = this.#states.get(workspaceId);
    if (state === undefined) {
      state = { active: 0, queue: [], waits: new WaitStats(), timeouts: 0, rejected: 0 };
      this.#states.set(workspaceId, state);
    }
    return state;
  }

  #dispatch(): void {
    while (this.#free > 0) {
      let granted = false;
      for (const [id, state] of this.#ring) {
        if (state.active >= this.#options.maxPerWorkspace) continue;
        const waiter = state.queue.shift();
        if (waiter === undefined) continue;
        // Move this workspace to the back of the ring: the next slot goes to someone else.
        this.#ring.delete(id);
        if (state.queue.length > 0) this.#ring.set(id, state);
        this.#grant(state, waiter);
        granted = true;
        break;
      }
      if (!granted) return;
    }
  }

  #grant(state: WorkspaceState, waiter: Waiter): void {
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    state.active++;
    this.#free--;
    const waitedMs = this.#options.now() - waiter.enqueuedAt;
    state.waits.record(waitedMs);
    waiter.settle(ok({ workspaceId: waiter.workspaceId, waitedMs }));
  }

  #expire(state: WorkspaceState, waiter: Waiter, timeoutMs: number): void {
    const at = state.queue.indexOf(waiter);
    if (at < 0) return;
    state.queue.splice(at, 1);
    if (state.queue.length === 0) this.#ring.delete(waiter.workspaceId);
    state.timeouts++;
    waiter.settle(
      err(tenancyError("PoolTimeout", `no connection within ${timeoutMs} ms`, { workspaceId: waiter.workspaceId, retryable: true })),
    );
  }

  #forgetIdle(): void {
    if (this.#states.size <= this.#options.maxTrackedWorkspaces) return;
    for (const [id, state] of this.#states) {
      if (this.#states.size <= this.#options.maxTrackedWorkspaces) return;
      if (state.active === 0 && state.queue.length === 0) this.#states.delete(id);
    }
  }
}
