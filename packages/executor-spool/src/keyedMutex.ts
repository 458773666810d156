import type { KeyedMutex } from '@ordo/contracts';

interface Waiter {
  start: () => void;
}

/**
 * An in-process {@link KeyedMutex}: calls with the same key run one at a time in arrival order (FIFO), calls
 * with different keys run in parallel. A key holds no memory once its last holder is done.
 *
 * When to use: give one instance to every spool that works on the same tree (`createSpool({ mutex })`);
 * spools made without one share a process-wide instance, so they already exclude each other.
 *
 * Gotchas: it is not re-entrant (taking a key you hold deadlocks), and it only excludes holders in this
 * process; spools in other processes are caught by the commit's conflict check instead.
 *
 * @example
 * ```ts
 * const mutex = createKeyedMutex();
 * await Promise.all([
 *   mutex.runExclusive('a.txt', () => write(1)),
 *   mutex.runExclusive('a.txt', () => write(2)), // runs after the first
 * ]);
 * ```
 */
export function createKeyedMutex(): KeyedMutex {
  const queues = new Map<string, Waiter[]>();

  const release = (key: string) => {
    const queue = queues.get(key);
    if (!queue) return;
    queue.shift();
    const next = queue[0];
    if (next) next.start();
    else queues.delete(key);
  };

  return {
    runExclusive<T>(key: string, fn: () => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<T>((resolve, reject) => {
        let queue = queues.get(key);
        if (!queue) {
          queue = [];
          queues.set(key, queue);
        }
        const onAbort = () => {
          const q = queues.get(key);
          const index = q?.indexOf(waiter) ?? -1;
          if (q && index > 0) q.splice(index, 1);
          reject(signal?.reason);
        };
        const waiter: Waiter = {
          start: () => {
            signal?.removeEventListener('abort', onAbort);
            Promise.resolve()
              .then(fn)
              .then(resolve, reject)
              .finally(() => release(key));
          },
        };
        queue.push(waiter);
        if (queue.length === 1) waiter.start();
        else signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
