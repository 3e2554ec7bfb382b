import { randomUUID } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import type { RedisRunner } from "../../core/redis/runner.js";
import { tenancyError, type StoreUnavailableError } from "../../core/errors.js";
import type { InvalidationNotAcknowledgedError } from "../errors.js";

/**
 * The part of an ioredis subscriber connection the bus uses. The user passes
 * the connection (tenancykit never opens one); tests pass a wrapper that
 * delays, duplicates, drops or reorders messages.
 */
export interface BusSubscriber {
  readonly status: string;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * Wire format. `s` is the sender's sequence number; heartbeats carry the last
 * one sent. `i` is the sender's incarnation, one per bus instance: its start
 * time (ms, base 36), a dot and a random UUID (see newIncarnation), so a node
 * restarted with the same `n` (a fixed nodeId), whose sequence restarts at 0,
 * is told apart from its previous life, and the later life from the earlier.
 */
interface BusMessage {
  readonly n: string;
  readonly i?: string;
  readonly t: "d" | "c" | "h" | "a" | "b";
  readonly s?: number;
  readonly w?: string;
  readonly k?: string | undefined;
  readonly id?: string | undefined;
  readonly to?: string;
}

export interface BusHandlers {
  /** Apply a remote invalidation: one key, or the whole workspace when `key` is undefined. */
  invalidate(workspaceId: string, key: string | undefined): void;
  /** Local entries can no longer be trusted (a gap, a reconnect, a missed heartbeat): drop them all. */
  flush(reason: string): void;
}

export interface BusOptions {
  readonly nodeId: string;
  readonly channel: string;
  readonly heartbeatMs: number;
  readonly ackTimeoutMs: number;
  /**
   * How long a silent peer is still counted as live (acknowledged
   * invalidations wait for it). Much longer than the flush trigger (two
   * heartbeats), so a peer that merely lost a few heartbeats is never
   * skipped by an acknowledged invalidation.
   */
  readonly peerLivenessMs: number;
  readonly now: () => number;
}

/** Incarnations remembered as over (replaced by a later one, or said goodbye) per node id, and node ids remembered. */
const RETIRED_PER_NODE = 4;
const RETIRED_NODES = 256;

/** A new incarnation: its start time (ms, base 36), a dot, a random UUID. */
export function newIncarnation(startedAt: number): string {
  return `${Math.max(0, Math.floor(startedAt)).toString(36)}.${randomUUID()}`;
}

/** The start time an incarnation carries, or undefined (a sender of an older version, or none). */
function startOf(incarnation: string | undefined): number | undefined {
  if (incarnation === undefined) return undefined;
  const dot = incarnation.indexOf(".");
  if (dot <= 0) return undefined;
  const startedAt = Number.parseInt(incarnation.slice(0, dot), 36);
  return Number.isFinite(startedAt) ? startedAt : undefined;
}

interface Peer {
  /** The incarnation its sequence numbers belong to (undefined: a sender that sends none). */
  incarnation: string | undefined;
  last: number;
  seenAt: number;
  /** Missed two heartbeats: our local tier was flushed; still awaited by acknowledged invalidations. */
  suspect: boolean;
}

/**
 * Cross-process invalidation over Redis pub/sub, which is at-most-once: every
 * message carries the sender's sequence number and each node heartbeats its
 * latest one, so a lost message shows up as a gap at the next message or
 * heartbeat (at most one heartbeat interval later) and the receiver flushes
 * its local tier. Reconnects and silent peers flush too. Duplicates and late
 * (reordered) messages are applied again, which is harmless: an invalidation
 * is idempotent.
 */
export class InvalidationBus {
  #seq = 0;
  #selfSeenAt: number;
  #selfPublishOk = false;
  #timer: NodeJS.Timeout | undefined;
  #ackCounter = 0;
  readonly #selfPrefix: string;
  readonly #incarnation: string;
  readonly peers = new Map<string, Peer>();
  /** Incarnations known to be over, per node id (bounded: RETIRED_PER_NODE, RETIRED_NODES). */
  readonly #retired = new Map<string, string[]>();
  readonly #acks = new Map<string, { readonly waiting: Set<string>; done: () => void }>();
  readonly #onMessage = (channel: unknown, text: unknown): void => {
    if (channel === this.options.channel && typeof text === "string") this.receive(text);
  };
  readonly #onReady = (): void => this.#flush("subscriber reconnected");
  /** Counters for stats and tests (`late`: messages of a node's previous incarnation, applied only). */
  readonly counters = { received: 0, applied: 0, gaps: 0, flushes: 0, corrupt: 0, acksSent: 0, late: 0 };

  constructor(
    private readonly runner: RedisRunner,
    private readonly subscriber: BusSubscriber,
    readonly options: BusOptions,
    private readonly handlers: BusHandlers,
  ) {
    this.#selfSeenAt = options.now();
    this.#incarnation = newIncarnation(this.#selfSeenAt);
    this.#selfPrefix = `{"n":${JSON.stringify(options.nodeId)},"i":"${this.#incarnation}",`;
  }

  async start(): Promise<Result<void, StoreUnavailableError>> {
    this.subscriber.on("message", this.#onMessage);
    try {
      await this.subscriber.subscribe(this.options.channel);
    } catch (thrown) {
      this.subscriber.removeListener("message", this.#onMessage);
      return err(tenancyError("StoreUnavailable", `could not subscribe to ${this.options.channel}`, { retryable: true, cause: thrown }));
    }
    this.subscriber.on("ready", this.#onReady);
    // No flush on "close": while Redis is down the local tier keeps serving (bounded by its TTL); the reconnect flushes it.
    this.#timer = setInterval(() => void this.tick(), this.options.heartbeatMs);
    this.#timer.unref();
    await this.tick();
    return ok(undefined);
  }

  /** The next invalidation message (consumes a sequence number). */
  message(type: "d" | "c", workspaceId: string, key?: string, ackId?: string): string {
    // Built by hand (it is on the invalidation's critical path): the same JSON
    // as stringifying a BusMessage, with the node id's JSON computed once.
    let text = `${this.#selfPrefix}"t":"${type}","s":${++this.#seq},"w":${JSON.stringify(workspaceId)}`;
    if (key !== undefined) text += `,"k":${JSON.stringify(key)}`;
    if (ackId !== undefined) text += `,"id":${JSON.stringify(ackId)}`;
    return `${text}}`;
  }

  newAckId(): string {
    return `${this.options.nodeId}:${++this.#ackCounter}`;
  }

  /**
   * Waits until every live peer confirmed `ackId`, re-publishing the message
   * (same sequence number, so a duplicate is harmless) until then or until
   * `ackTimeoutMs`.
   */
  async awaitAcks(ackId: string, text: string): Promise<Result<number, InvalidationNotAcknowledgedError>> {
    const waiting = new Set(this.peers.keys());
    if (waiting.size === 0) return ok(0);
    const expected = waiting.size;
    let done!: () => void;
    const allAcked = new Promise<void>((resolve) => (done = resolve));
    this.#acks.set(ackId, { waiting, done });
    const deadline = this.options.now() + this.options.ackTimeoutMs;
    const retryMs = Math.max(5, Math.min(this.options.heartbeatMs / 4, this.options.ackTimeoutMs / 4));
    try {
      while (waiting.size > 0 && this.options.now() < deadline) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([allAcked, new Promise((r) => (timer = setTimeout(r, retryMs)))]);
        clearTimeout(timer);
        if (waiting.size === 0) break;
        await this.publish(text);
      }
    } finally {
      this.#acks.delete(ackId);
    }
    if (waiting.size === 0) return ok(expected);
    const missingNodes = [...waiting];
    return err({
      ...tenancyError("InvalidationNotAcknowledged", `${missingNodes.length} of ${expected} nodes did not confirm the invalidation within ${this.options.ackTimeoutMs} ms`, { retryable: true }),
      missingNodes,
    });
  }

  /** Handles one raw message from the channel. */
  receive(text: string): void {
    // Our own messages come back too; recognise them without parsing (the node id is the first field).
    if (text.startsWith(this.#selfPrefix)) {
      this.#selfSeenAt = this.options.now();
      return;
    }
    let message: BusMessage;
    try {
      message = JSON.parse(text) as BusMessage;
    } catch {
      this.counters.corrupt++;
      return;
    }
    if (typeof message !== "object" || message === null || typeof message.n !== "string") {
      this.counters.corrupt++;
      return;
    }
    this.counters.received++;
    const now = this.options.now();
    if (message.n === this.options.nodeId) {
      this.#selfSeenAt = now;
      return;
    }
    let peer = this.peers.get(message.n);
    const incarnation = typeof message.i === "string" ? message.i : undefined;
    if (message.t === "b") {
      // A late goodbye of a previous incarnation must not remove its successor.
      if (peer !== undefined && peer.incarnation === incarnation) this.peers.delete(message.n);
      this.#retire(message.n, incarnation);
      return;
    }
    if (peer === undefined ? this.#isRetired(message.n, incarnation) : peer.incarnation !== incarnation && this.#isPast(message.n, incarnation, peer)) {
      this.#late(message);
      return;
    }
    if (peer !== undefined && peer.incarnation !== incarnation) {
      // The node restarted (same id, a new incarnation, its sequence from 0):
      // what its previous life sent last may have been lost with no heartbeat
      // left to reveal it, so the local tier is flushed, and it is a new peer
      // from here on (a gap in its new sequence is then seen as one).
      this.#flush(`node ${message.n} restarted (new incarnation)`);
      this.#retire(message.n, peer.incarnation);
      this.peers.delete(message.n);
      peer = undefined;
    }
    const known = peer !== undefined;
    if (peer === undefined) {
      peer = { incarnation, last: 0, seenAt: now, suspect: false };
      this.peers.set(message.n, peer);
    }
    peer.seenAt = now;
    peer.suspect = false;
    if (message.t === "a") {
      if (message.to === this.options.nodeId && message.id !== undefined) {
        const pending = this.#acks.get(message.id);
        if (pending !== undefined && pending.waiting.delete(message.n) && pending.waiting.size === 0) pending.done();
      }
      return;
    }
    const seq = typeof message.s === "number" ? message.s : 0;
    if (message.t === "h") {
      if (seq > peer.last) this.#gap(`heartbeat from ${message.n} reports seq ${seq}, last applied ${peer.last}`, known || seq > 0);
      if (seq > peer.last) peer.last = seq;
      return;
    }
    if (message.t !== "d" && message.t !== "c") return;
    if (seq > peer.last + 1) this.#gap(`seq ${seq} from ${message.n} after ${peer.last}`, true);
    if (seq > peer.last) peer.last = seq;
    if (typeof message.w === "string") {
      this.handlers.invalidate(message.w, message.t === "d" ? (message.k ?? "") : undefined);
      this.counters.applied++;
    }
    if (message.id !== undefined) {
      this.counters.acksSent++;
      void this.publish(JSON.stringify({ n: this.options.nodeId, i: this.#incarnation, t: "a", to: message.n, id: message.id } satisfies BusMessage));
    }
  }

  /** Heartbeat and watchdog: runs every `heartbeatMs`. */
  async tick(): Promise<void> {
    const now = this.options.now();
    const silentFor = this.options.heartbeatMs * 2;
    for (const [node, peer] of this.peers) {
      const silent = now - peer.seenAt;
      if (silent > this.options.peerLivenessMs) this.peers.delete(node);
      if (silent > silentFor && !peer.suspect) {
        peer.suspect = true;
        this.#flush(`no heartbeat from ${node} for ${silent} ms`);
      }
    }
    // Our own heartbeats come back through our subscription; if they stop
    // while publishing works, the subscription is dead and we may be missing
    // invalidations. (While Redis is down we keep serving local entries and
    // flush when the subscriber reconnects.)
    if (this.#selfPublishOk && now - this.#selfSeenAt > silentFor) this.#flush("own heartbeats are not coming back");
    this.#selfPublishOk = await this.publish(JSON.stringify({ n: this.options.nodeId, i: this.#incarnation, t: "h", s: this.#seq } satisfies BusMessage));
  }

  async publish(text: string): Promise<boolean> {
    const sent = await this.runner.command("PUBLISH", (c) => c.publish(this.options.channel, text));
    return sent.isOk();
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.subscriber.removeListener("message", this.#onMessage);
    this.subscriber.removeListener("ready", this.#onReady);
    await this.publish(JSON.stringify({ n: this.options.nodeId, i: this.#incarnation, t: "b" } satisfies BusMessage));
    try {
      await this.subscriber.unsubscribe(this.options.channel);
    } catch {
      // The user's connection may already be closed; nothing to undo.
    }
  }

  /**
   * Whether `incarnation` is an earlier life of node `node` than the peer's
   * (then its message is late, not a restart): one known to be over, or, if
   * the peer is not suspect, one whose start time is earlier. A suspect peer
   * (silent for two heartbeats, the local tier already flushed) is replaced
   * by any other incarnation, so a restart whose clock reads earlier than
   * its previous life's (a clock set back) is a new peer once the old one
   * went silent.
   */
  #isPast(node: string, incarnation: string | undefined, peer: Peer): boolean {
    if (this.#isRetired(node, incarnation)) return true;
    if (peer.suspect) return false;
    const started = startOf(incarnation);
    const peerStarted = startOf(peer.incarnation);
    return started !== undefined && peerStarted !== undefined && started < peerStarted;
  }

  #isRetired(node: string, incarnation: string | undefined): boolean {
    return incarnation !== undefined && this.#retired.get(node)?.includes(incarnation) === true;
  }

  #retire(node: string, incarnation: string | undefined): void {
    if (incarnation === undefined) return;
    let retired = this.#retired.get(node);
    if (retired === undefined) {
      if (this.#retired.size >= RETIRED_NODES) this.#retired.delete(this.#retired.keys().next().value as string);
      this.#retired.set(node, (retired = []));
    }
    if (retired.includes(incarnation)) return;
    if (retired.push(incarnation) > RETIRED_PER_NODE) retired.shift();
  }

  /**
   * A message of a node's previous incarnation that arrived after a later
   * one was known (or after its goodbye): its invalidation still holds, so
   * it is applied (idempotent), but it says nothing about the current life's
   * sequence, so the peer record is left alone and nothing is flushed. Not
   * acknowledged: its sender is gone, and its ack id may be one the node's
   * current life uses too.
   */
  #late(message: BusMessage): void {
    this.counters.late++;
    if ((message.t === "d" || message.t === "c") && typeof message.w === "string") {
      this.handlers.invalidate(message.w, message.t === "d" ? (message.k ?? "") : undefined);
      this.counters.applied++;
    }
  }

  #gap(reason: string, flush: boolean): void {
    this.counters.gaps++;
    if (flush) this.#flush(reason);
  }

  #flush(reason: string): void {
    this.counters.flushes++;
    this.handlers.flush(reason);
  }
}
