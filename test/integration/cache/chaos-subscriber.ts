import type { Redis } from "ioredis";
import type { BusSubscriber } from "../../../src/cache/redis.js";

/** What the tests read of a bus message: sender, type, sequence number (heartbeats carry the sender's last), key. */
export interface BusWireMessage {
  readonly n: string;
  /** The sender's incarnation (one per start of its bus). */
  readonly i?: string;
  readonly t: string;
  readonly s?: number;
  readonly k?: string;
}

export interface ChaosSettings {
  drop: number;
  duplicate: number;
  /** Max random delay per message (ms); random delays also reorder. */
  maxDelayMs: number;
  /** Drops every message this returns true for (targeted, silent loss). */
  dropIf?: ((message: BusWireMessage) => boolean) | undefined;
  /** Holds back every message this returns true for until `release()` (targeted, late delivery). */
  holdIf?: ((message: BusWireMessage) => boolean) | undefined;
}

/**
 * Wraps a real ioredis subscriber and delivers its messages with chaos:
 * dropped, duplicated, delayed and so reordered. Only delivery to our
 * listeners is disturbed; Redis itself is real.
 */
export class ChaosSubscriber implements BusSubscriber {
  readonly settings: ChaosSettings = { drop: 0, duplicate: 0, maxDelayMs: 0 };
  readonly stats = { delivered: 0, dropped: 0, duplicated: 0, delayed: 0, held: 0 };
  readonly #held: (() => void)[] = [];
  readonly #listeners = new Map<(...args: unknown[]) => void, (...args: unknown[]) => void>();
  /** Called after each delivered message (tests wait on specific deliveries). */
  onDelivered: (message: BusWireMessage) => void = () => undefined;

  constructor(
    readonly inner: Redis,
    private readonly random: () => number = Math.random,
  ) {}

  get status(): string {
    return this.inner.status;
  }

  subscribe(channel: string): Promise<unknown> {
    return this.inner.subscribe(channel);
  }

  unsubscribe(channel: string): Promise<unknown> {
    return this.inner.unsubscribe(channel);
  }

  on(event: string, listener: (...args: unknown[]) => void): unknown {
    if (event !== "message") return this.inner.on(event, listener);
    const wrapped = (channel: unknown, text: unknown) => this.#deliver(listener, channel, text);
    this.#listeners.set(listener, wrapped);
    return this.inner.on("message", wrapped);
  }

  removeListener(event: string, listener: (...args: unknown[]) => void): unknown {
    const wrapped = this.#listeners.get(listener);
    return this.inner.removeListener(event, wrapped ?? listener);
  }

  /** Delivers the messages held so far, in the order they arrived. */
  release(): void {
    for (const deliver of this.#held.splice(0)) deliver();
  }

  #deliver(listener: (...args: unknown[]) => void, channel: unknown, text: unknown): void {
    const message = JSON.parse(String(text)) as BusWireMessage;
    const s = this.settings;
    if (s.holdIf?.(message)) {
      this.stats.held++;
      this.#held.push(() => {
        this.stats.delivered++;
        listener(channel, text);
        this.onDelivered(message);
      });
      return;
    }
    if (s.dropIf?.(message) || this.random() < s.drop) {
      this.stats.dropped++;
      return;
    }
    const copies = this.random() < s.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const deliver = () => {
        this.stats.delivered++;
        listener(channel, text);
        this.onDelivered(message);
      };
      if (s.maxDelayMs > 0) {
        this.stats.delayed++;
        setTimeout(deliver, this.random() * s.maxDelayMs);
      } else deliver();
    }
  }
}
