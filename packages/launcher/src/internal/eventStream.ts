import type { Clock, Logger } from '@ordo/contracts';
import type { EngineClient } from './engine.js';
import { assertNumber } from './validate.js';

/** One line of the Engine API's `/events` stream, the fields the launchers read. */
export interface EngineEvent {
  Type?: string;
  Action?: string;
  id?: string;
  time?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** Backoff of events stream reconnects, as the launchers take it. */
export interface ReconnectOptions {
  /** The first delay after a drop. @default 500 */
  initialMs?: number | undefined;
  /** The longest delay (each drop in a row doubles it). @default 30000 */
  maxMs?: number | undefined;
}

/** Checks the `reconnect` option of a launcher and fills in its defaults. */
export function reconnectDelays(reconnect: ReconnectOptions | undefined): {
  initialMs: number;
  maxMs: number;
} {
  const initialMs = reconnect?.initialMs ?? 500;
  const maxMs = reconnect?.maxMs ?? 30_000;
  assertNumber('reconnect.initialMs', initialMs, 1);
  assertNumber('reconnect.maxMs', maxMs, 1);
  return { initialMs, maxMs };
}

/** What an {@link EngineEventStream} is made with. */
export interface EngineEventStreamOptions {
  engine: EngineClient;
  clock: Clock;
  logger: Logger;
  /** The `filters` query of `GET /events`, e.g. `{ type: ['container'], label: ['ordo.run-id=…'] }`. */
  filters: Readonly<Record<string, readonly string[]>>;
  reconnect: { initialMs: number; maxMs: number };
  /** Called for each event (a line that is not JSON is logged and skipped). */
  onEvent(event: EngineEvent): void;
  /** Called when the stream connects or drops. */
  onChange(connected: boolean, reason: string): void;
}

/**
 * One long-lived, filtered `GET /events` stream: reconnects with backoff (doubling up to `maxMs`, reset by a
 * good connection) and asks for what it missed with `since` (the time of the last event seen, or of the
 * engine's clock at the first connection).
 */
export class EngineEventStream {
  readonly #o: EngineEventStreamOptions;
  #up = false;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #firstConnect: Promise<void> | undefined;
  #since: number | undefined;

  constructor(options: EngineEventStreamOptions) {
    this.#o = options;
  }

  /** Whether the stream is connected now. */
  get connected(): boolean {
    return this.#up;
  }

  /** Starts the loop once; resolves when its first connection attempt has succeeded or failed. */
  start(): Promise<void> {
    if (this.#firstConnect) return this.#firstConnect;
    const abort = new AbortController();
    this.#abort = abort;
    this.#firstConnect = new Promise<void>((resolve) => {
      this.#loop = this.#run(abort.signal, resolve);
    });
    return this.#firstConnect;
  }

  /** Ends the stream and waits for its loop to finish. */
  async close(): Promise<void> {
    this.#abort?.abort(new Error('launcher closed'));
    await this.#loop;
  }

  async #run(signal: AbortSignal, firstAttemptDone: () => void): Promise<void> {
    const { initialMs, maxMs } = this.#o.reconnect;
    let delay = initialMs;
    while (!signal.aborted) {
      let reason = 'the engine closed the events stream';
      try {
        const { headers, body } = await this.#o.engine.stream({
          method: 'GET',
          path: '/events',
          endpoint: 'GET /events',
          query: { filters: JSON.stringify(this.#o.filters), since: this.#since },
          signal,
        });
        if (this.#since === undefined) {
          const date = Date.parse(String(headers.date ?? ''));
          if (Number.isFinite(date)) this.#since = Math.floor(date / 1000) - 1;
        }
        this.#setUp(true, 'connected');
        firstAttemptDone();
        delay = initialMs;
        let partial = '';
        for await (const chunk of body) {
          const lines = (partial + chunk.toString('utf8')).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) if (line.trim()) this.#onLine(line);
        }
      } catch (error) {
        if (signal.aborted) break;
        reason = (error as Error).message;
      }
      firstAttemptDone();
      this.#setUp(false, reason);
      if (signal.aborted) break;
      await this.#o.clock.sleep(delay, signal).catch(() => {});
      delay = Math.min(delay * 2, maxMs);
    }
    this.#setUp(false, 'launcher closed');
  }

  #setUp(up: boolean, reason: string): void {
    if (this.#up === up) return;
    this.#up = up;
    const where = this.#o.engine.where;
    if (up) this.#o.logger.info({ engine: where, since: this.#since }, 'events stream connected');
    else
      this.#o.logger.warn(
        { engine: where, reason },
        'events stream down; polling the engine until it is back',
      );
    this.#o.onChange(up, reason);
  }

  #onLine(line: string): void {
    let event: EngineEvent;
    try {
      event = JSON.parse(line) as EngineEvent;
    } catch {
      this.#o.logger.warn({ line: line.slice(0, 200) }, 'ignoring an events stream line that is not JSON');
      return;
    }
    if (typeof event.time === 'number') this.#since = Math.max(this.#since ?? 0, event.time);
    this.#o.onEvent(event);
  }
}
