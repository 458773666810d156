import { isOrdoError, TaskPriority } from '@ordo/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PriorityQueue, type QueueItem } from '../src/index.js';

const item = (id: string, priority: TaskPriority): QueueItem => ({ id, priority });
const { CRITICAL, HIGH, NORMAL, LOW, HEARTBEAT } = TaskPriority;

function drain(queue: PriorityQueue): string[] {
  const ids: string[] = [];
  for (let next = queue.dequeue(); next; next = queue.dequeue()) ids.push(next.id);
  return ids;
}

describe('PriorityQueue', () => {
  it('hands out CRITICAL before HEARTBEAT and FIFO within a level', () => {
    const queue = new PriorityQueue({ maxDepth: 10 });
    queue.enqueue(item('hb', HEARTBEAT));
    queue.enqueue(item('n1', NORMAL));
    queue.enqueue(item('low', LOW));
    queue.enqueue(item('n2', NORMAL));
    queue.enqueue(item('crit', CRITICAL));
    queue.enqueue(item('high', HIGH));
    expect(queue.depth).toBe(6);
    expect(queue.depthOf(NORMAL)).toBe(2);
    expect([...queue].map((i) => i.id)).toEqual(['crit', 'high', 'n1', 'n2', 'low', 'hb']);
    expect(drain(queue)).toEqual(['crit', 'high', 'n1', 'n2', 'low', 'hb']);
    expect(queue.depth).toBe(0);
    expect(queue.dequeue()).toBeUndefined();
  });

  it('keeps FIFO order when a level wraps around and grows its buffer', () => {
    const queue = new PriorityQueue({ maxDepth: 1000 });
    for (let i = 0; i < 6; i++) queue.enqueue(item(`a${i}`, NORMAL));
    expect(drain(queue).length).toBe(6);
    const ids = Array.from({ length: 40 }, (_, i) => `b${i}`);
    for (const id of ids) queue.enqueue(item(id, NORMAL));
    expect(drain(queue)).toEqual(ids);
  });

  it('refuses with QUEUE_FULL when full, without losing what it holds', () => {
    const queue = new PriorityQueue({ maxDepth: 2 });
    expect(queue.enqueue(item('a', NORMAL))).toEqual({ accepted: true });
    expect(queue.enqueue(item('b', NORMAL))).toEqual({ accepted: true });
    expect(queue.enqueue(item('c', NORMAL))).toEqual({ accepted: false, reason: 'QUEUE_FULL' });
    expect(queue.enqueue(item('d', CRITICAL))).toEqual({ accepted: false, reason: 'QUEUE_FULL' });
    expect(drain(queue)).toEqual(['a', 'b']);
  });

  it('lets CRITICAL and HIGH evict the newest HEARTBEAT, then the newest LOW', () => {
    const queue = new PriorityQueue({ maxDepth: 4 });
    const evictions: [string, string][] = [];
    queue.on('evicted', (out, by) => evictions.push([out.id, by.id]));
    for (const [id, p] of [
      ['low1', LOW],
      ['hb1', HEARTBEAT],
      ['low2', LOW],
      ['hb2', HEARTBEAT],
    ] as const) {
      queue.enqueue(item(id, p));
    }
    expect(queue.enqueue(item('n', NORMAL))).toEqual({ accepted: false, reason: 'QUEUE_FULL' });
    expect(queue.enqueue(item('c1', CRITICAL))).toEqual({ accepted: true, evicted: item('hb2', HEARTBEAT) });
    expect(queue.enqueue(item('h1', HIGH))).toEqual({ accepted: true, evicted: item('hb1', HEARTBEAT) });
    expect(queue.enqueue(item('c2', CRITICAL))).toEqual({ accepted: true, evicted: item('low2', LOW) });
    expect(queue.enqueue(item('c3', CRITICAL))).toEqual({ accepted: true, evicted: item('low1', LOW) });
    expect(queue.enqueue(item('c4', CRITICAL))).toEqual({ accepted: false, reason: 'QUEUE_FULL' });
    expect(evictions).toEqual([
      ['hb2', 'c1'],
      ['hb1', 'h1'],
      ['low2', 'c2'],
      ['low1', 'c3'],
    ]);
    expect(drain(queue)).toEqual(['c1', 'c2', 'c3', 'h1']);
  });

  it('applies per-level caps without evicting', () => {
    const queue = new PriorityQueue({ maxDepth: 10, perPriority: { HEARTBEAT: 1, LOW: 0 } });
    expect(queue.enqueue(item('hb1', HEARTBEAT)).accepted).toBe(true);
    expect(queue.enqueue(item('hb2', HEARTBEAT))).toEqual({ accepted: false, reason: 'QUEUE_FULL' });
    expect(queue.enqueue(item('low', LOW))).toEqual({ accepted: false, reason: 'QUEUE_FULL' });
    expect(queue.depth).toBe(1);
  });

  it('skips and counts heartbeats while memory is high, and hands them out again once it is not', () => {
    let high = true;
    const queue = new PriorityQueue({ maxDepth: 10, isMemoryHigh: () => high });
    const skipped: string[] = [];
    queue.on('skipped', (i) => skipped.push(i.id));
    queue.enqueue(item('hb1', HEARTBEAT));
    queue.enqueue(item('n', NORMAL));
    queue.enqueue(item('hb2', HEARTBEAT));
    expect(queue.dequeue()?.id).toBe('n');
    expect(queue.dequeue()).toBeUndefined();
    expect(skipped).toEqual(['hb1', 'hb2']);
    expect(queue.heartbeatsSkipped).toBe(2);
    expect(queue.depth).toBe(0);

    high = false;
    queue.enqueue(item('hb3', HEARTBEAT));
    expect(queue.dequeue()?.id).toBe('hb3');
    queue.memoryHigh = true;
    queue.enqueue(item('hb4', HEARTBEAT));
    expect(queue.dequeue()).toBeUndefined();
    expect(queue.heartbeatsSkipped).toBe(3);
  });

  it('removes a queued item by id', () => {
    const queue = new PriorityQueue({ maxDepth: 10 });
    const removed: string[] = [];
    queue.on('removed', (i) => removed.push(i.id));
    for (const id of ['a', 'b', 'c']) queue.enqueue(item(id, NORMAL));
    expect(queue.has('b')).toBe(true);
    expect(queue.remove('b')).toEqual(item('b', NORMAL));
    expect(queue.has('b')).toBe(false);
    expect(queue.remove('b')).toBeUndefined();
    expect(queue.remove('missing')).toBeUndefined();
    expect(removed).toEqual(['b']);
    expect(queue.depth).toBe(2);
    expect(drain(queue)).toEqual(['a', 'c']);
  });

  it('take() waits for an item, serves waiters in order and honours abort', async () => {
    await using queue = new PriorityQueue({ maxDepth: 10 });
    queue.enqueue(item('ready', LOW));
    await expect(queue.take()).resolves.toEqual(item('ready', LOW));

    const first = queue.take();
    const second = queue.take();
    const controller = new AbortController();
    const aborted = queue.take(controller.signal);
    expect(queue.waiting).toBe(3);
    controller.abort(new Error('stop waiting'));
    await expect(aborted).rejects.toThrow('stop waiting');
    expect(queue.waiting).toBe(2);
    expect(queue.enqueue(item('x', NORMAL))).toEqual({ accepted: true });
    queue.enqueue(item('y', NORMAL));
    await expect(first).resolves.toMatchObject({ id: 'x' });
    await expect(second).resolves.toMatchObject({ id: 'y' });
    expect(queue.depth).toBe(0);
    await expect(queue.take(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('close() ends waiting takes and refuses more work', async () => {
    const queue = new PriorityQueue();
    const waiting = queue.take();
    await queue.close();
    await expect(waiting).rejects.toSatisfy((e) => isOrdoError(e, 'QUEUE_CLOSED'));
    await expect(queue.take()).rejects.toSatisfy((e) => isOrdoError(e, 'QUEUE_CLOSED'));
    expect(() => queue.enqueue(item('late', NORMAL))).toThrow(/closed/);
    await queue.close();
  });

  it('rejects bad items and options with clear errors', () => {
    const queue = new PriorityQueue();
    for (const bad of [
      { id: '', priority: NORMAL },
      { id: 7, priority: NORMAL },
      { id: 'p', priority: 5 },
      { id: 'p', priority: 1.5 },
      { id: 'p', priority: '1' },
      { id: 'p', priority: -1 },
    ]) {
      expect(() => queue.enqueue(bad as unknown as QueueItem)).toThrow(
        expect.objectContaining({ code: 'QUEUE_ITEM_INVALID' }),
      );
    }
    expect(queue.depth).toBe(0);
    for (const options of [
      { maxDepth: 0 },
      { maxDepth: 2.5 },
      { perPriority: { LOW: -1 } },
      { perPriority: { NOPE: 1 } },
    ]) {
      expect(() => new PriorityQueue(options as never)).toThrow(
        expect.objectContaining({ code: 'GOVERNANCE_OPTIONS_INVALID' }),
      );
    }
  });

  it('matches a reference model and never exceeds maxDepth (property)', () => {
    type Op =
      | { kind: 'enqueue'; priority: TaskPriority }
      | { kind: 'dequeue' }
      | { kind: 'remove'; pick: number }
      | { kind: 'memory'; high: boolean };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('enqueue' as const),
          priority: fc.constantFrom(CRITICAL, HIGH, NORMAL, LOW, HEARTBEAT),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('dequeue' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat(50) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('memory' as const), high: fc.boolean() }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 200 }), (maxDepth, ops) => {
        const queue = new PriorityQueue({ maxDepth });
        const model: QueueItem[][] = [[], [], [], [], []];
        const modelDepth = () => model.reduce((n, level) => n + level.length, 0);
        let next = 0;
        for (const o of ops) {
          if (o.kind === 'enqueue') {
            const it = item(`i${next++}`, o.priority);
            const result = queue.enqueue(it);
            if (modelDepth() < maxDepth) {
              model[o.priority]?.push(it);
              expect(result).toEqual({ accepted: true });
            } else {
              const victim = o.priority <= HIGH ? (model[HEARTBEAT]?.pop() ?? model[LOW]?.pop()) : undefined;
              if (victim) {
                model[o.priority]?.push(it);
                expect(result).toEqual({ accepted: true, evicted: victim });
              } else {
                expect(result).toEqual({ accepted: false, reason: 'QUEUE_FULL' });
              }
            }
          } else if (o.kind === 'dequeue') {
            const level = model.findIndex((l) => l.length > 0);
            const got = queue.dequeue();
            if (level === HEARTBEAT && queue.memoryHigh) {
              model[HEARTBEAT] = [];
              expect(got).toBeUndefined();
            } else {
              expect(got).toBe(level === -1 ? undefined : model[level]?.shift());
            }
          } else if (o.kind === 'remove') {
            const id = `i${o.pick}`;
            const level = model.find((l) => l.some((x) => x.id === id));
            const expected = level?.splice(
              level.findIndex((x) => x.id === id),
              1,
            )[0];
            expect(queue.remove(id)).toBe(expected);
          } else {
            queue.memoryHigh = o.high;
          }
          expect(queue.depth).toBe(modelDepth());
          expect(queue.depth).toBeLessThanOrEqual(maxDepth);
          expect([...queue]).toEqual(model.flat());
        }
      }),
      { numRuns: 300 },
    );
  });
});
