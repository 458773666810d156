import type { MemoryLevel } from '@ordo/contracts';
import type { FeatureEvent } from '../types.js';

/** What the live status page hears: a feature run's events and the memory level's changes. */
export type LiveEvent =
  | { kind: 'feature'; event: FeatureEvent }
  | { kind: 'memory'; level: MemoryLevel; fractionOfLimit: number | undefined };

/** The most events of the latest feature kept for a page that connects later (a 10,000-task run's worth). */
const KEEP = 50_000;

/** The most event streams open at once; more get 503 (each holds a socket and a listener). */
export const MAX_SUBSCRIBERS = 64;

/**
 * Fans the runtime's events out to subscribers (the status page's event streams) and keeps the latest
 * feature's events, so a page that opens mid-run or after it sees the run so far, not only what comes next:
 * its `feature-start` and its newest events (at most 50,000; past that the oldest task events go first).
 */
export class EventHub {
  readonly #listeners = new Map<(event: LiveEvent) => void, () => void>();
  #latest: LiveEvent[] = [];
  #memory: LiveEvent | undefined;

  /** Sends `event` to every subscriber; a feature's first event starts a new remembered run. */
  publish(event: LiveEvent): void {
    if (event.kind === 'feature') {
      if (event.event.type === 'feature-start') this.#latest = [];
      this.#latest.push(event);
      // Drop the oldest half (keeping the start) in one go, so keeping the newest costs O(1) a publish.
      if (this.#latest.length > KEEP) this.#latest.splice(1, KEEP / 2);
    } else this.#memory = event;
    for (const listener of this.#listeners.keys()) {
      try {
        listener(event);
      } catch {
        // A broken subscriber (a closed socket) must not stop the run or the other pages.
      }
    }
  }

  /** The latest memory event and the latest feature's events, in order: what a new page starts from. */
  snapshot(): readonly LiveEvent[] {
    return this.#memory ? [this.#memory, ...this.#latest] : [...this.#latest];
  }

  /**
   * Calls `listener` for every later event; returns the unsubscribe function, or `undefined` when
   * {@link MAX_SUBSCRIBERS} already listen. `onClose` runs if the hub closes first.
   */
  subscribe(listener: (event: LiveEvent) => void, onClose: () => void = () => {}): (() => void) | undefined {
    if (this.#listeners.size >= MAX_SUBSCRIBERS) return undefined;
    this.#listeners.set(listener, onClose);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Ends every subscription (the runtime is closing): each subscriber's `onClose` runs once. */
  close(): void {
    const closing = [...this.#listeners.values()];
    this.#listeners.clear();
    for (const onClose of closing) onClose();
  }

  /** How many subscribers listen now. */
  get size(): number {
    return this.#listeners.size;
  }
}
