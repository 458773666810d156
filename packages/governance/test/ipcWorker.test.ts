import { PassThrough } from 'node:stream';
import { type ChildMessage, parseChildMessage } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { serveWorker, type WorkerHandler } from '../src/worker.js';

/** Runs serveWorker in-process on stream pairs and collects what it sends. */
function harness(handler: WorkerHandler, options: { maxMessageBytes?: number; clock?: ManualClock } = {}) {
  const input = new PassThrough();
  const sent: ChildMessage[] = [];
  const output = {
    write(text: string) {
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const parsed = parseChildMessage(line);
        if (!parsed.ok) throw new Error(`worker wrote a bad line: ${line}`);
        sent.push(parsed.message);
      }
    },
  };
  const clock = options.clock ?? new ManualClock(1_000);
  const server = serveWorker(handler, { input, output, clock, reportIntervalMs: 1_000, ...options });
  const send = (m: object) => input.write(`${JSON.stringify(m)}\n`);
  const until = async (predicate: () => boolean) => {
    for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setImmediate(r));
    expect(predicate()).toBe(true);
  };
  const of = <T extends ChildMessage['type']>(type: T) =>
    sent.filter((m): m is Extract<ChildMessage, { type: T }> => m.type === type);
  return { server, send, sent, until, of, input, clock };
}

describe('serveWorker', () => {
  it('announces READY v1 with its pid, reports memory and heartbeats on its clock', async () => {
    const clock = new ManualClock(0);
    const h = harness(() => 1, { clock });
    expect(h.sent[0]).toEqual({ type: 'READY', v: 1, pid: process.pid });
    expect(h.of('MEMORY')).toHaveLength(1);
    clock.advance(3_000);
    expect(h.of('MEMORY')).toHaveLength(4);
    expect(h.of('HEARTBEAT')).toHaveLength(4);
    expect(h.of('MEMORY')[0]?.rss).toBeGreaterThan(0);
    await h.server.close();
    clock.advance(5_000);
    expect(h.of('MEMORY')).toHaveLength(4);
  });

  it('answers RUN with COMPLETE, and a throwing handler with FAILED carrying name, message, stack and code', async () => {
    const h = harness(async (payload) => {
      const p = payload as { fail?: boolean; n: number };
      if (p.fail) throw Object.assign(new TypeError('bad n'), { code: 'E_BAD' });
      return p.n * 2;
    });
    h.send({ type: 'RUN', taskId: 'a', payload: { n: 21 } });
    h.send({ type: 'RUN', taskId: 'b', payload: { fail: true } });
    await h.until(() => h.of('COMPLETE').length === 1 && h.of('FAILED').length === 1);
    expect(h.of('COMPLETE')[0]).toEqual({ type: 'COMPLETE', taskId: 'a', result: 42 });
    const failed = h.of('FAILED')[0];
    expect(failed?.error).toMatchObject({ name: 'TypeError', message: 'bad n', code: 'E_BAD' });
    expect(failed?.error.stack).toContain('bad n');
    await h.server.close();
  });

  it('fails a result that is not JSON-serializable instead of crashing', async () => {
    const h = harness(() => 10n);
    h.send({ type: 'RUN', taskId: 'a', payload: null });
    await h.until(() => h.of('FAILED').length === 1);
    expect(h.of('FAILED')[0]?.error.name).toBe('TypeError');
    await h.server.close();
  });

  it('throttles progress to every 10 points or 30 s, and always sends 100', async () => {
    const clock = new ManualClock(0);
    let progress: ((p: number) => void) | undefined;
    let finish: () => void = () => {};
    const h = harness(
      (_p, ctx) =>
        new Promise<void>((resolve) => {
          progress = ctx.progress;
          finish = resolve;
        }),
      { clock },
    );
    h.send({ type: 'RUN', taskId: 'a', payload: null });
    await h.until(() => progress !== undefined);
    for (let p = 0; p <= 35; p++) progress?.(p);
    clock.advance(30_000);
    progress?.(36);
    progress?.(37);
    progress?.(99.5);
    progress?.(100);
    progress?.(100);
    progress?.(Number.NaN);
    expect(h.of('PROGRESS').map((m) => m.percent)).toEqual([0, 10, 20, 30, 36, 99.5, 100]);
    finish();
    await h.server.close();
  });

  it('aborts the task signal on CANCEL and answers FAILED with TASK_CANCELLED', async () => {
    const h = harness(
      (_p, { signal }) =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    );
    h.send({ type: 'RUN', taskId: 'a', payload: null });
    h.send({ type: 'CANCEL', taskId: 'a' });
    h.send({ type: 'CANCEL', taskId: 'unknown' });
    await h.until(() => h.of('FAILED').length === 1);
    expect(h.of('FAILED')[0]?.error).toMatchObject({ name: 'AbortError', code: 'TASK_CANCELLED' });
    await h.server.close();
  });

  it('streams a result larger than maxMessageBytes as CHUNKs', async () => {
    const h = harness(() => 'x'.repeat(1_000), { maxMessageBytes: 300 });
    h.send({ type: 'RUN', taskId: 'a', payload: null });
    await h.until(() => h.of('CHUNK').some((c) => c.last));
    const chunks = h.of('CHUNK');
    expect(chunks.length).toBeGreaterThan(3);
    expect(JSON.parse(chunks.map((c) => c.data).join(''))).toBe('x'.repeat(1_000));
    expect(h.of('COMPLETE')).toHaveLength(0);
    await h.server.close();
  });

  it('logs and ignores a garbage line, and stops on SHUTDOWN or end of input', async () => {
    const h = harness(() => 1);
    h.input.write('not json\n');
    await h.until(() => h.of('LOG').length === 1);
    expect(h.of('LOG')[0]).toMatchObject({ level: 'warn', msg: expect.stringContaining('not JSON') });
    h.send({ type: 'SHUTDOWN' });
    await h.server.closed;
    h.send({ type: 'RUN', taskId: 'late', payload: null });
    await new Promise((r) => setImmediate(r));
    expect(h.of('COMPLETE')).toHaveLength(0);

    const h2 = harness(() => 1);
    h2.input.end();
    await h2.server.closed;
  });

  it('forwards context.log as LOG tagged with the task id', async () => {
    const h = harness((_p, { log }) => {
      log('info', 'working');
      return 'done';
    });
    h.send({ type: 'RUN', taskId: 'a', payload: null });
    await h.until(() => h.of('COMPLETE').length === 1);
    expect(h.of('LOG')).toEqual([{ type: 'LOG', level: 'info', msg: '[a] working' }]);
    await h.server.close();
  });
});
