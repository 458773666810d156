import { describe, expect, it } from 'vitest';
import { isOrdoError, OrdoError } from '../src/index.js';

class QueueFullError extends OrdoError {
  override readonly code = 'QUEUE_FULL' as const;
}

describe('OrdoError', () => {
  it('carries a code, details and a cause', () => {
    const cause = new Error('disk full');
    const error = new OrdoError('Could not write the state file. Free some disk space and retry.', {
      code: 'STATE_WRITE_FAILED',
      cause,
      details: { path: '/tmp/state.json' },
    });
    expect(error.code).toBe('STATE_WRITE_FAILED');
    expect(error.cause).toBe(cause);
    expect(error.details).toEqual({ path: '/tmp/state.json' });
    expect(error.name).toBe('OrdoError');
    expect(error).toBeInstanceOf(Error);
  });

  it('defaults the code and lets subclasses fix a literal one', () => {
    expect(new OrdoError('x').code).toBe('ORDO_ERROR');
    const full = new QueueFullError('The queue is full. Retry later.', { code: 'IGNORED' });
    expect(full.code).toBe('QUEUE_FULL');
    expect(full.name).toBe('QueueFullError');
    expect(full).toBeInstanceOf(OrdoError);
  });

  it('serializes the whole cause chain with toJSON', () => {
    const root = Object.assign(new Error('ECONNREFUSED 127.0.0.1:2375'), { code: 'ECONNREFUSED' });
    const middle = new OrdoError('Engine unreachable.', { code: 'LAUNCHER_ENGINE_UNAVAILABLE', cause: root });
    const top = new QueueFullError('Spawn failed.', { cause: middle, details: { workerId: 'w1' } });

    const json = JSON.parse(JSON.stringify(top));
    expect(json).toEqual({
      name: 'QueueFullError',
      code: 'QUEUE_FULL',
      message: 'Spawn failed.',
      details: { workerId: 'w1' },
      cause: {
        name: 'OrdoError',
        code: 'LAUNCHER_ENGINE_UNAVAILABLE',
        message: 'Engine unreachable.',
        cause: { name: 'Error', code: 'ECONNREFUSED', message: 'ECONNREFUSED 127.0.0.1:2375' },
      },
    });
    expect(json).not.toHaveProperty('stack');
  });

  it('serializes non-error causes and survives cycles', () => {
    expect(new OrdoError('a', { cause: { reason: 'timeout' } }).toJSON().cause).toEqual({
      reason: 'timeout',
    });
    expect(new OrdoError('a', { cause: 42 }).toJSON().cause).toBe(42);
    const big = 10n;
    expect(new OrdoError('a', { cause: big }).toJSON().cause).toBe('10');

    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    const json = new OrdoError('top', { cause: a }).toJSON();
    expect(JSON.stringify(json)).toContain('[cause chain truncated]');
  });

  it('is recognised by brand, also across copies of the package', () => {
    const error = new QueueFullError('full');
    expect(isOrdoError(error)).toBe(true);
    expect(isOrdoError(error, 'QUEUE_FULL')).toBe(true);
    expect(isOrdoError(error, 'BREAKER_OPEN')).toBe(false);
    expect(isOrdoError(new Error('plain'))).toBe(false);
    expect(isOrdoError(null)).toBe(false);
    expect(isOrdoError('QUEUE_FULL')).toBe(false);

    // A copy from another install: a different class, the same global brand.
    const foreign = { code: 'QUEUE_FULL', message: 'full', [Symbol.for('@ordo/error')]: true };
    expect(isOrdoError(foreign, 'QUEUE_FULL')).toBe(true);
  });
});
