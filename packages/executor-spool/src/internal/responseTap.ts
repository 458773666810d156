import type { Dispatcher } from 'undici';
import { undici } from './undici.js';

/** What a {@link ResponseTap} reports to the request it belongs to. */
export interface ResponseTapEvents {
  /** The response body went past the cap; the tap has stopped forwarding it. Abort the request here. */
  onTooLarge(): void;
  /** The response has been received whole (its socket goes back to the pool now). */
  onComplete(): void;
}

/**
 * One request's view of a dispatcher: forwards the request, counts the response body's bytes as they come
 * off the socket, and tells when the response has ended (or failed). This lets the restricted fetch hand
 * back undici's own `Response` instead of wrapping its body in a second stream.
 *
 * Two kinds of response are left uncounted, for the caller to count as the body is read: a content-encoded
 * body (fetch decodes it after this point, so the bytes here are not its size) and a redirect (the caller
 * follows most of them and drops their body unread). So is any response when the handler has undici's
 * newer shape (no `onHeaders`): it is forwarded untouched. `counted` says which case applies.
 */
export interface ResponseTap extends Dispatcher {
  /** Whether the last response's body was counted against the cap (see the notes above). */
  readonly counted: boolean;
  /** Calls `callback` once the response has ended or failed (at once if it already has). */
  whenSettled(callback: () => void): void;
}

/** Creates a {@link ResponseTap} that sends through `target`. */
export function createResponseTap(
  target: Dispatcher,
  maxBodyBytes: number,
  events: ResponseTapEvents,
): ResponseTap {
  responseTapClass ??= defineResponseTap(undici().Dispatcher);
  return new responseTapClass(target, maxBodyBytes, events);
}

type ResponseTapClass = new (
  target: Dispatcher,
  maxBodyBytes: number,
  events: ResponseTapEvents,
) => ResponseTap;

// Defined on first use: the base class is undici's, which is loaded only when a request is sent.
let responseTapClass: ResponseTapClass | undefined;

function defineResponseTap(Base: typeof Dispatcher): ResponseTapClass {
  return class ResponseTapImpl extends Base implements ResponseTap {
    readonly #target: Dispatcher;
    readonly #maxBodyBytes: number;
    readonly #events: ResponseTapEvents;
    #received = 0;
    #tapped = false;
    #uncounted = false;
    #settled = false;
    /** Bumped by each request sent (a retry sends several): only the last one settles the tap. */
    #dispatches = 0;
    #onSettled: (() => void) | undefined;

    constructor(target: Dispatcher, maxBodyBytes: number, events: ResponseTapEvents) {
      super();
      this.#target = target;
      this.#maxBodyBytes = maxBodyBytes;
      this.#events = events;
    }

    /** Whether the last response's body was counted against the cap (see the class notes). */
    get counted(): boolean {
      return this.#tapped && !this.#uncounted;
    }

    /** Calls `callback` once the response has ended or failed (at once if it already has). */
    whenSettled(callback: () => void): void {
      if (this.#settled) callback();
      else this.#onSettled = callback;
    }

    override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      if (typeof handler.onHeaders !== 'function') return this.#target.dispatch(options, handler);
      this.#tapped = true;
      this.#settled = false;
      return this.#target.dispatch(options, this.#wrap(handler, ++this.#dispatches));
    }

    #settle(dispatch: number): void {
      if (this.#settled || dispatch !== this.#dispatches) return;
      this.#settled = true;
      this.#onSettled?.();
    }

    #wrap(inner: Dispatcher.DispatchHandler, dispatch: number): Dispatcher.DispatchHandler {
      const tap = this;
      return {
        onConnect: (abort) => inner.onConnect?.(abort),
        onResponseStarted: () => inner.onResponseStarted?.(),
        onUpgrade: (statusCode, headers, socket) => inner.onUpgrade?.(statusCode, headers, socket),
        onBodySent: (chunkSize, totalBytesSent) => inner.onBodySent?.(chunkSize, totalBytesSent),
        onHeaders(statusCode, headers, resume, statusText) {
          tap.#received = 0;
          tap.#uncounted = REDIRECTS.has(statusCode) || hasContentEncoding(headers);
          return inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
        },
        onData(chunk) {
          if (!tap.#uncounted) {
            tap.#received += chunk.byteLength;
            if (tap.#received > tap.#maxBodyBytes) {
              // Not forwarded: the caller never sees more than the cap. Aborting drops the connection.
              tap.#events.onTooLarge();
              return false;
            }
          }
          return inner.onData?.(chunk) ?? true;
        },
        onComplete(trailers) {
          try {
            inner.onComplete?.(trailers);
          } finally {
            tap.#events.onComplete();
            tap.#settle(dispatch);
          }
        },
        onError(error) {
          try {
            inner.onError?.(error);
          } finally {
            tap.#settle(dispatch);
          }
        },
      };
    }
  };
}

/** The statuses the restricted fetch follows. */
export const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

function hasContentEncoding(rawHeaders: Buffer[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name?.length === 16 && name.toString('latin1').toLowerCase() === 'content-encoding') return true;
  }
  return false;
}
