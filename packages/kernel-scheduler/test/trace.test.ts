import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chainDigest,
  createScheduler,
  genesisDigest,
  replay,
  resultDigest,
  type Task,
  type Trace,
  verifyTrace,
} from '../src/index.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const tasks = (values: Record<string, unknown>): Task[] =>
  Object.entries(values).map(([id, value]) => ({
    id,
    run: () => {
      if (value instanceof Error) throw value;
      return value;
    },
  }));

async function traceOf(values: Record<string, unknown>, seed = 'seed'): Promise<Trace> {
  await using scheduler = createScheduler({ seed, concurrency: 3 });
  return (await scheduler.schedule(tasks(values))).trace;
}

describe('trace', () => {
  it('chains sha256(previous digest + RFC 8785 JSON of the entry) from a genesis of version, seed and order', async () => {
    const trace = await traceOf({ a: { z: 1, a: [true, null] }, b: 'text', c: new Error('bad') });
    expect(trace.version).toBe(1);
    let previous = sha256(canonicalize({ version: 1, seed: 'seed', order: trace.order }) as string);
    expect(genesisDigest('seed', trace.order)).toBe(previous);
    for (const entry of trace.entries) {
      const { digest, ...content } = entry;
      expect(digest).toBe(sha256(previous + canonicalize(content)));
      previous = digest;
    }
    expect(trace.digest).toBe(previous);
    const a = trace.entries.find((e) => e.id === 'a');
    expect(a?.resultDigest).toBe(sha256('{"a":[true,null],"z":1}'));
    const c = trace.entries.find((e) => e.id === 'c');
    expect(c?.resultDigest).toBe(sha256('{"error":{"message":"bad","name":"Error"}}'));
  });

  it('builds entry JSON exactly as canonicalize does, for any id', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 20 }),
        fc.nat(),
        fc.constantFrom('ok', 'failed', 'timed_out', 'cancelled' as const),
        (id, seq, status) => {
          const entry = { seq, id, status, resultDigest: sha256(id) };
          expect(chainDigest('prev', entry)).toBe(sha256(`prev${canonicalize(entry)}`));
        },
      ),
    );
  });

  it('digests values that JSON cannot express instead of throwing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(resultDigest('ok', cyclic, undefined)).toMatch(/^[0-9a-f]{64}$/);
    expect(resultDigest('ok', 10n, undefined)).toBe(sha256(canonicalize({ unserializable: '10' }) as string));
    expect(resultDigest('ok', 'lone \ud800', undefined)).toBe(sha256('{"unserializable":"lone \\ud800"}'));
    const hostile = Object.create(null) as Record<string, unknown>;
    hostile.self = hostile;
    expect(resultDigest('ok', hostile, undefined)).toBe(sha256('{"unserializable":"[object]"}'));
    expect(resultDigest('ok', undefined, undefined)).toBe(resultDigest('ok', null, undefined));
    expect(resultDigest('failed', undefined, 'plain string')).toBe(
      sha256('{"error":{"message":"plain string"}}'),
    );
  });

  it('verifyTrace accepts an untouched trace, also after a JSON round trip', async () => {
    const trace = await traceOf({ a: 1, b: 2, c: 3 });
    expect(verifyTrace(JSON.parse(JSON.stringify(trace)))).toEqual({ ok: true, digest: trace.digest });
  });

  it('verifyTrace names the first entry with a flipped byte', async () => {
    const values = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`task-${i}`, { n: i }]));
    const trace = await traceOf(values);
    const json = JSON.stringify(trace);
    const target = trace.entries[5];
    const at = json.indexOf(target?.resultDigest as string) + 10;
    const flipped = json.slice(0, at) + (json[at] === '0' ? '1' : '0') + json.slice(at + 1);
    const check = verifyTrace(JSON.parse(flipped));
    expect(check).toMatchObject({ ok: false, seq: 5, id: target?.id, reason: 'digest' });
  });

  it('verifyTrace detects a changed order, status, seq, count, final digest and shape', async () => {
    const trace = await traceOf({ a: 1, b: 2, c: 3 });
    type Entry = { seq: number; id: string; status: string; resultDigest: string; digest: string };
    type Editable = { seed: string; order: string[]; entries: Entry[]; digest: string };
    const copy = () => structuredClone(trace) as unknown as Editable & Trace;
    const seed = copy();
    seed.seed = 'other';
    expect(verifyTrace(seed)).toMatchObject({ ok: false, seq: 0, reason: 'digest' });
    const status = copy();
    (status.entries[1] as Entry).status = 'failed';
    expect(verifyTrace(status)).toMatchObject({ ok: false, seq: 1, reason: 'digest' });
    const order = copy();
    order.order = [...order.order].reverse();
    expect(verifyTrace(order)).toMatchObject({ ok: false, seq: 0, reason: 'order' });
    const seq = copy();
    (seq.entries[2] as Entry).seq = 7;
    expect(verifyTrace(seq)).toMatchObject({ ok: false, seq: 2, reason: 'seq' });
    const short = copy();
    short.entries.pop();
    expect(verifyTrace(short)).toMatchObject({ ok: false, reason: 'length' });
    const final = copy();
    final.digest = '0'.repeat(64);
    expect(verifyTrace(final)).toMatchObject({ ok: false, reason: 'final-digest' });
    expect(verifyTrace({} as Trace)).toMatchObject({ ok: false, reason: 'shape' });
    expect(verifyTrace(null as unknown as Trace)).toMatchObject({ ok: false, reason: 'shape' });
  });
});

describe('replay', () => {
  const values = { a: 1, b: { deep: ['x'] }, c: 'three', d: new Error('known failure') };

  it('reports ok when the same tasks give the same results, at another concurrency', async () => {
    const trace = await traceOf(values);
    const result = await replay(trace, tasks(values), { concurrency: 1 });
    expect(result.ok).toBe(true);
    expect(result.run?.trace.digest).toBe(trace.digest);
  });

  it('finds the first changed result', async () => {
    const trace = await traceOf(values);
    const changed = { ...values, c: 'THREE' };
    const result = await replay(trace, tasks(changed));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const seq = trace.order.indexOf('c');
    expect(result.divergence).toMatchObject({ seq, id: 'c', kind: 'result' });
    expect(result.divergence.expected).toBe(trace.entries[seq]?.resultDigest);
  });

  it('finds a changed status', async () => {
    const trace = await traceOf(values);
    const result = await replay(trace, tasks({ ...values, a: new Error('now failing') }));
    expect(result).toMatchObject({
      ok: false,
      divergence: { id: 'a', kind: 'status', expected: 'ok', actual: 'failed' },
    });
  });

  it('finds a changed order without running anything', async () => {
    const trace = await traceOf(values);
    let ran = 0;
    const renamed: Task[] = [...Object.keys(values), 'extra'].map((id) => ({ id, run: () => ran++ }));
    const result = await replay(trace, renamed);
    expect(result).toMatchObject({ ok: false, run: undefined, divergence: { kind: 'order' } });
    expect(ran).toBe(0);
  });

  it('replays graphs with their deps', async () => {
    await using scheduler = createScheduler({ seed: 'g' });
    const graph = [
      { id: 'build', run: () => 'built' },
      { id: 'test', deps: ['build'], run: () => 'tested' },
    ];
    const { trace } = await scheduler.scheduleGraph(graph);
    expect((await replay(trace, graph, { mode: 'levels' })).ok).toBe(true);
    const broken = [graph[0], { ...graph[1], run: () => 'flaky' }] as typeof graph;
    expect(await replay(trace, broken)).toMatchObject({
      ok: false,
      divergence: { id: 'test', kind: 'result' },
    });
  });

  it('stops on its signal, rejecting with the reason', async () => {
    const trace = await traceOf(values);
    const controller = new AbortController();
    const slow: Task[] = tasks(values).map((task) => ({
      ...task,
      run: ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    }));
    const replaying = replay(trace, slow, { signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('enough'));
    await expect(replaying).rejects.toThrow('enough');
  });

  it('refuses a tampered trace with SCHEDULER_TRACE_INVALID', async () => {
    const trace = await traceOf(values);
    const tampered = {
      ...trace,
      entries: trace.entries.map((e, i) => (i === 2 ? { ...e, status: 'cancelled' as const } : e)),
    };
    await expect(replay(tampered, tasks(values))).rejects.toMatchObject({
      code: 'SCHEDULER_TRACE_INVALID',
      details: { seq: 2 },
    });
  });
});
