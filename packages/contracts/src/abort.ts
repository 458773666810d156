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
