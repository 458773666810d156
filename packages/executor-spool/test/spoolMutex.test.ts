import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKeyedMutex } from '../src/index.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('createKeyedMutex', () => {
  it('runs holders of one key one at a time, in arrival order; other keys run in parallel', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 30 }),
        async (keys) => {
          const mutex = createKeyedMutex();
          const running = new Map<string, number>();
          const order = new Map<string, number[]>();
          let maxParallel = 0;
          await Promise.all(
            keys.map((key, i) =>
              mutex.runExclusive(key, async () => {
                running.set(key, (running.get(key) ?? 0) + 1);
                maxParallel = Math.max(
                  maxParallel,
                  [...running.values()].reduce((x, y) => x + y, 0),
                );
                expect(running.get(key)).toBe(1);
                order.set(key, [...(order.get(key) ?? []), i]);
                await tick();
                running.set(key, (running.get(key) ?? 0) - 1);
              }),
            ),
          );
          for (const [key, seen] of order)
            expect(seen).toEqual(keys.flatMap((k, i) => (k === key ? [i] : [])));
          expect(maxParallel).toBeLessThanOrEqual(new Set(keys).size);
          if (new Set(keys).size > 1) expect(maxParallel).toBeGreaterThan(1);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('passes results and errors through, and frees the key after a failure', async () => {
    const mutex = createKeyedMutex();
    await expect(mutex.runExclusive('k', () => 42)).resolves.toBe(42);
    await expect(
      mutex.runExclusive('k', () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(mutex.runExclusive('k', async () => 'after')).resolves.toBe('after');
  });

  it('rejects a waiter whose signal aborts, without blocking the ones behind it', async () => {
    const mutex = createKeyedMutex();
    let release: () => void = () => {};
    const holder = mutex.runExclusive('k', () => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    let ran = false;
    const waiting = mutex.runExclusive(
      'k',
      () => {
        ran = true;
      },
      controller.signal,
    );
    const behind = mutex.runExclusive('k', () => 'behind');
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    release();
    await holder;
    await expect(behind).resolves.toBe('behind');
    expect(ran).toBe(false);
    await expect(mutex.runExclusive('k', () => 1, AbortSignal.abort(new Error('early')))).rejects.toThrow(
      'early',
    );
  });
});
