import type { GraphTask, TaskContext } from '../src/index.js';

/** Waits `hops` turns of the event loop: a latency that needs no wall clock. */
export async function hops(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A promise with its resolve and reject exposed. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves when `signal` aborts, with its reason. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

/** A task spec for property tests: latency in event-loop hops, and whether it fails. */
export interface Spec {
  id: string;
  priority: number;
  latency: number;
  fails: boolean;
  deps?: readonly string[];
}

/** Builds tasks from specs, logging every start into `starts`. */
export function tasksFrom(specs: readonly Spec[], starts: string[] = []): GraphTask<string>[] {
  return specs.map((spec) => ({
    id: spec.id,
    priority: spec.priority,
    deps: spec.deps,
    run: async (_ctx: TaskContext) => {
      starts.push(spec.id);
      await hops(spec.latency);
      if (spec.fails) throw new Error(`boom ${spec.id}`);
      return `value of ${spec.id}`;
    },
  }));
}
