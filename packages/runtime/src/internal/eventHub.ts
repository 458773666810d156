import type { MemoryLevel } from '@ordo/contracts';
import type { FeatureEvent } from '../types.js';

/** What the live status page hears: a feature run's events and the memory level's changes. */
export type LiveEvent =
  | { kind: 'feature'; event: FeatureEvent }
  | { kind: 'memory'; level: MemoryLevel; fractionOfLimit: number | undefined };

/** The most events of the latest feature kept for a page that connects later (a 10,000-task run's worth). */
const KEEP = 50_000;

/**
 * Fans the runtime's events out to subscribers (the status page's event streams) and keeps the latest
 * feature's events, so a page that opens mid-run or after it sees the whole run, not only what comes next.
 */
export class EventHub {
  readonly #listeners = new Set<(event: LiveEvent) => void>();
  #latest: LiveEvent[] = [];
  #memory: LiveEvent | undefined;

  /** Sends `event` to every subscriber; a feature's first event starts a new remembered run. */
  publish(event: LiveEvent): void {
    if (event.kind === 'feature') {
      if (event.event.type === 'feature-start') this.#latest = [];
      if (this.#latest.length < KEEP) this.#latest.push(event);
    } else this.#memory = event;
    for (const listener of this.#listeners) {
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

  /** Calls `listener` for every later event; returns the unsubscribe function. */
  subscribe(listener: (event: LiveEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** How many subscribers listen now. */
  get size(): number {
    return this.#listeners.size;
  }
}
