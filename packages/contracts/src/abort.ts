/** A child of an AbortSignal: aborts when the parent does, and can be aborted on its own. */
export interface ChildAbort {
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  /** Unlinks from the parent. Call it when the child's work is done, so the parent holds no listener. */
  dispose(): void;
}

/**
 * Makes an AbortController that follows `parent` and unlinks from it on `dispose()` (cockatiel's pattern),
 * so a long-lived parent signal does not collect one listener per finished task.
 */
export function childAbortController(parent?: AbortSignal): ChildAbort {
  const controller = new AbortController();
  if (!parent) return { controller, signal: controller.signal, dispose: () => {} };
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { controller, signal: controller.signal, dispose: () => {} };
  }
  const onAbort = () => controller.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return {
    controller,
    signal: controller.signal,
    dispose: () => parent.removeEventListener('abort', onAbort),
  };
}

/**
 * `promise`, or a rejection with `signal.reason` as soon as `signal` aborts; the promise itself goes on.
 * For a caller waiting on work it shares with others (a cached lookup, a queue slot), which one caller's
 * abort must not cancel for the rest.
 *
 * @example
 * ```ts
 * const image = await untilAborted(sharedImageLookup, signal);
 * ```
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
