import {
  type Clock,
  type RateLimitDecision,
  type RateLimiter,
  systemClock,
  untilAborted,
} from '@ordo/contracts';
import { FetchOptionError } from './errors.js';

/** Options of {@link createTokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second to each key's bucket. Must be > 0. */
  perSecond: number;
  /**
   * The most tokens a bucket holds (and starts with): how many calls may go at once after a quiet spell.
   * @default Math.max(1, Math.ceil(perSecond))
   */
  burst?: number | undefined;
  /** The time source. @default systemClock */
  clock?: Clock | undefined;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  /** The last waiter in line, so waiters of one key are served in arrival order. */
  tail: Promise<void>;
  /** How many `acquire` calls are in line. */
  waiting: number;
}

/** Buckets kept before idle, full ones are dropped. */
const PRUNE_ABOVE = 1_000;

/**
 * A token bucket per key (per host, for the restricted fetch), implementing the `RateLimiter` of
 * `@ordo/contracts`. Each bucket starts full with `burst` tokens and refills continuously at `perSecond`.
 * `acquire` waits in arrival order (FIFO per key); `tryAcquire` answers at once with `retryAfterMs`.
 *
 * @example
 * ```ts
 * const limiter = createTokenBucket({ perSecond: 5, burst: 10 });
 * await limiter.acquire('api.example.com', AbortSignal.timeout(5_000));
 * const decision = limiter.tryAcquire('api.example.com'); // { acquired: false, retryAfterMs: 200 } when empty
 * ```
 */
export function createTokenBucket(options: TokenBucketOptions): RateLimiter {
  const { perSecond } = options;
  if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
    throw new FetchOptionError('rate.perSecond', `needs a finite number > 0, got ${perSecond}`);
  }
  const burst = options.burst ?? Math.max(1, Math.ceil(perSecond));
  if (!(burst >= 1) || !Number.isFinite(burst)) {
    throw new FetchOptionError('rate.burst', `needs a finite number >= 1, got ${burst}`);
  }
  const clock = options.clock ?? systemClock;
  const buckets = new Map<string, Bucket>();

  function refill(bucket: Bucket): Bucket {
    const now = clock.now();
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) * perSecond) / 1000);
    bucket.updatedAt = now;
    return bucket;
  }

  function bucketFor(key: string): Bucket {
    const bucket = buckets.get(key);
    if (bucket) return refill(bucket);
    if (buckets.size >= PRUNE_ABOVE) {
      for (const [other, idle] of buckets) {
        if (idle.waiting === 0 && refill(idle).tokens >= burst) buckets.delete(other);
      }
    }
    const fresh: Bucket = { tokens: burst, updatedAt: clock.now(), tail: Promise.resolve(), waiting: 0 };
    buckets.set(key, fresh);
    return fresh;
  }

  function take(bucket: Bucket): RateLimitDecision {
    refill(bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { acquired: true };
    }
    return { acquired: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) * 1000) / perSecond) };
  }

  return {
    tryAcquire(key) {
      const bucket = bucketFor(key);
      // Waiters are ahead in line: do not jump the queue.
      if (bucket.waiting) return { acquired: false, retryAfterMs: Math.ceil(1000 / perSecond) };
      return take(bucket);
    },
    acquire(key, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      const bucket = bucketFor(key);
      // Nobody in line and a token at hand (the usual case): take it without joining the line.
      if (bucket.waiting === 0 && take(bucket).acquired) return Promise.resolve();
      bucket.waiting++;
      const previous = bucket.tail;
      const turn = (async () => {
        try {
          await untilAborted(previous, signal);
          for (;;) {
            const decision = take(bucket);
            if (decision.acquired) return;
            await clock.sleep(decision.retryAfterMs, signal);
          }
        } finally {
          bucket.waiting--;
        }
      })();
      // The next in line waits for everyone ahead, even one that gave up early.
      bucket.tail = Promise.allSettled([previous, turn]).then(() => {});
      return turn;
    },
  };
}
