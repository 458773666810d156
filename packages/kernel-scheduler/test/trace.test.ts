import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson as canonicalize,
  chainDigest,
  createScheduler,
  entryJson,
  genesisDigest,
  replay,
  resultDigest,
  type Task,
  type Trace,
  type TraceV1,
  type TraceV2,
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

async function traceOf(values: Record<string, unknown>, seed = 'seed', failFast = false): Promise<Trace> {
  await using scheduler = createScheduler({ seed, concurrency: 3, failFast });
  return (await scheduler.schedule(tasks(values))).trace;
}

describe('trace', () => {
  it("hashes the genesis and each entry's RFC 8785 JSON as one stream: digest_i covers entries 0..i", async () => {
    const trace = await traceOf({ a: { z: 1, a: [true, null] }, b: 'text', c: new Error('bad') });
    expect(trace.version).toBe(3);
    expect(trace.options).toEqual({ failFast: false, taskTimeoutMs: null, mode: 'flat' });
    // Written out by hand, as another implementation would: keys sorted, no spaces, one newline after each.
    const genesis = sha256(
      `{"options":{"failFast":false,"mode":"flat","taskTimeoutMs":null},"order":${JSON.stringify(trace.order)},"seed":"seed","version":3}`,
    );
    expect(genesisDigest('seed', trace.order, trace.options)).toBe(genesis);
    let text = `${genesis}\n`;
    for (const entry of trace.entries) {
      const { digest, ...content } = entry;
      text += `${canonicalize(content)}\n`;
      expect(digest).toBe(sha256(text));
    }
    expect(trace.digest).toBe(sha256(text));
    const a = trace.entries.find((e) => e.id === 'a');
    expect(a?.resultDigest).toBe(sha256('{"a":[true,null],"z":1}'));
    const c = trace.entries.find((e) => e.id === 'c');
    expect(c?.resultDigest).toBe(sha256('{"error":{"message":"bad","name":"Error"}}'));
  });

  it("an empty run's digest is its genesis", async () => {
    await using scheduler = createScheduler({ seed: 'e' });
    const { trace } = await scheduler.schedule([]);
    expect(trace.entries).toEqual([]);
    expect(trace.digest).toBe(genesisDigest('e', [], trace.options));
    expect(verifyTrace(trace)).toEqual({ ok: true, digest: trace.digest });
  });

  it('builds the genesis JSON exactly as canonicalize does, for any seed, order and options', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 12 }),
        fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), { maxLength: 12 }),
        fc.record({
          failFast: fc.boolean(),
          taskTimeoutMs: fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 2 ** 31 - 1 })),
          mode: fc.constantFrom('flat' as const, 'graph' as const),
        }),
        fc.constantFrom(2 as const, 3 as const),
        (seed, order, options, version) => {
          expect(genesisDigest(seed, order, options, version)).toBe(
            sha256(canonicalize({ version, seed, options, order })),
          );
        },
      ),
    );
  });

  it('the entries read later are the same entries, in a trace that JSON and structuredClone copy whole', async () => {
    const values = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [`t${i}`, i % 7 === 0 ? new Error(`e${i}`) : { i }]),
    );
    const trace = await traceOf(values);
    expect(trace.entries).toBe(trace.entries);
    expect(trace.entries.at(-1)?.digest).toBe(trace.digest);
    const copied = JSON.parse(JSON.stringify(trace)) as Trace;
    expect(copied.entries).toEqual(trace.entries);
    expect(structuredClone(trace)).toEqual(copied);
    expect(verifyTrace(copied)).toEqual({ ok: true, digest: trace.digest });
  });

  it('the run history keeps the first, last and failed entries with the digests of the full trace', async () => {
    await using scheduler = createScheduler({ seed: 'h', concurrency: 2 });
    const values = { a: 1, b: new Error('x'), c: 3, d: 4, e: new Error('y'), f: 6 };
    const run = await scheduler.schedule(tasks(values));
    const kept = scheduler.history.get(run.runId)?.checkpoints ?? [];
    const { entries } = run.trace;
    const expected = entries.filter((e, i) => i === 0 || i === entries.length - 1 || e.status === 'failed');
    expect(kept).toEqual(expected);
    expect(kept.length).toBeGreaterThanOrEqual(3);
  });

  it('builds entry JSON exactly as canonicalize does, for any id', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 20 }),
        fc.nat(),
        fc.constantFrom('ok', 'failed', 'timed_out', 'cancelled' as const),
        (id, seq, status) => {
          const entry = { seq, id, status, resultDigest: sha256(id) };
          expect(entryJson(entry)).toBe(canonicalize(entry));
          expect(chainDigest('prev', entry)).toBe(sha256(`prev${canonicalize(entry)}`));
        },
      ),
    );
  });

  it('digests the JSON that JSON.stringify writes (the canonicalize 4 bug cases)', () => {
    expect(resultDigest('ok', { drop: () => 1, keep: 5 }, undefined)).toBe(sha256('{"keep":5}'));
    expect(resultDigest('ok', [1, () => 1], undefined)).toBe(sha256('[1,null]'));
    expect(resultDigest('ok', { t: { toJSON: () => undefined } }, undefined)).toBe(sha256('{}'));
    expect(resultDigest('ok', [undefined, 1], undefined)).toBe(sha256('[null,1]'));
    expect(resultDigest('ok', undefined, undefined)).toBe(sha256('null'));
    expect(resultDigest('ok', 'é€😀', undefined)).toBe(
      createHash('sha256').update(Buffer.from('"é€😀"', 'utf8')).digest('hex'),
    );
  });

  it('throws SCHEDULER_UNSERIALIZABLE for an ok value JSON cannot express; error digests never throw', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const value of [cyclic, 10n, Number.NaN, 'lone \ud800']) {
      expect(() => resultDigest('ok', value, undefined)).toThrow(
        expect.objectContaining({ code: 'SCHEDULER_UNSERIALIZABLE' }),
      );
    }
    expect(resultDigest('failed', undefined, 'plain string')).toBe(
      sha256('{"error":{"message":"plain string"}}'),
    );
    // A failure's name, code and message are made well-formed, a non-finite code is left out.
    const odd = Object.assign(new Error('lone \ud800'), { code: Number.NaN });
    expect(resultDigest('failed', undefined, odd)).toBe(
      sha256('{"error":{"message":"lone \ufffd","name":"Error"}}'),
    );
    const hostile = {
      get message(): string {
        throw new Error('no');
      },
    };
    expect(resultDigest('failed', undefined, hostile)).toBe(
      sha256('{"error":{"message":"[object Object]"}}'),
    );
    expect(resultDigest('timed_out', 1, undefined)).toBe(sha256('null'));
  });

  it('records a task whose value JSON cannot express as failed with SCHEDULER_UNSERIALIZABLE', async () => {
    await using scheduler = createScheduler({ seed: 's' });
    const run = await scheduler.schedule<unknown>([
      { id: 'big', run: () => ({ total: 10n }) },
      { id: 'fine', run: () => 1 },
    ]);
    const big = run.records.find((r) => r.id === 'big');
    expect(big).toMatchObject({
      status: 'failed',
      value: undefined,
      error: { code: 'SCHEDULER_UNSERIALIZABLE', details: { id: 'big', path: '$.total', reason: 'bigint' } },
    });
    expect(run.records.find((r) => r.id === 'fine')?.status).toBe('ok');
    expect(verifyTrace(run.trace).ok).toBe(true);
  });

  it('with trace: false digests nothing, so any value is ok and run.trace is undefined', async () => {
    await using scheduler = createScheduler({ seed: 's', trace: false });
    const run = await scheduler.schedule([{ id: 'big', run: () => 10n }]);
    expect(run.records[0]).toMatchObject({ status: 'ok', value: 10n });
    expect(run.trace).toBeUndefined();
    expect(scheduler.history.get(run.runId)).toMatchObject({ digest: undefined, checkpoints: [] });
    expect(() => createScheduler({ trace: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ code: 'SCHEDULER_INVALID_OPTIONS' }),
    );
  });

  it('binds the options into the genesis: another failFast or timeout is another digest, an edit is caught', async () => {
    const values = { a: 1, b: 2 };
    const plain = await traceOf(values);
    const failFast = await traceOf(values, 'seed', true);
    expect(failFast.options.failFast).toBe(true);
    expect(failFast.digest).not.toBe(plain.digest);
    const edited = { ...failFast, options: { ...failFast.options, failFast: false } };
    expect(verifyTrace(edited)).toMatchObject({ ok: false, seq: 0, reason: 'digest' });
    const bad = { ...failFast, options: { ...failFast.options, mode: 'sideways' } } as unknown as Trace;
    expect(verifyTrace(bad)).toMatchObject({ ok: false, reason: 'shape' });
    await using timed = createScheduler({ seed: 'seed', taskTimeoutMs: 5_000 });
    const run = await timed.schedule(tasks(values));
    expect(run.trace.options.taskTimeoutMs).toBe(5_000);
    expect(run.trace.digest).not.toBe(plain.digest);
    await using graphs = createScheduler({ seed: 'seed' });
    expect((await graphs.scheduleGraph(tasks(values))).trace.options.mode).toBe('graph');
  });

  it('still verifies a version 1 trace (written by the previous release) and names a tampered entry in it', () => {
    const v1 = JSON.parse(
      readFileSync(new URL('./fixtures/trace-v1.json', import.meta.url), 'utf8'),
    ) as TraceV1;
    expect(v1.version).toBe(1);
    expect(verifyTrace(v1)).toEqual({ ok: true, digest: v1.digest });
    expect(genesisDigest(v1.seed, v1.order)).toBe(
      sha256(`{"order":${JSON.stringify(v1.order)},"seed":"v1-fixture","version":1}`),
    );
    const tampered = structuredClone(v1);
    (tampered.entries[2] as { status: string }).status = 'ok';
    expect(verifyTrace(tampered)).toMatchObject({ ok: false, seq: 2, reason: 'digest' });
  });

  it('still verifies a version 2 trace (chained entry by entry) and names a tampered entry in it', () => {
    const v2 = JSON.parse(
      readFileSync(new URL('./fixtures/trace-v2.json', import.meta.url), 'utf8'),
    ) as TraceV2;
    expect(v2.version).toBe(2);
    expect(v2.entries.map((e) => e.status)).toEqual(expect.arrayContaining(['ok', 'failed', 'timed_out']));
    expect(verifyTrace(v2)).toEqual({ ok: true, digest: v2.digest });
    let previous = genesisDigest(v2.seed, v2.order, v2.options, 2);
    for (const entry of v2.entries) previous = chainDigest(previous, entry);
    expect(previous).toBe(v2.digest);
    const tampered = structuredClone(v2);
    (tampered.entries[3] as { resultDigest: string }).resultDigest = sha256('"other"');
    expect(verifyTrace(tampered)).toMatchObject({ ok: false, seq: 3, reason: 'digest' });
  });

  it('verifyTrace refuses entries whose status or result digest could not have been written', async () => {
    const trace = await traceOf({ a: 1, b: 2 });
    const copy = () => JSON.parse(JSON.stringify(trace)) as { entries: Record<string, unknown>[] } & Trace;
    const status = copy();
    (status.entries[1] as Record<string, unknown>).status = 'ok","x":"1';
    expect(verifyTrace(status)).toMatchObject({ ok: false, seq: 1, reason: 'shape' });
    const digest = copy();
    (digest.entries[0] as Record<string, unknown>).resultDigest = 'ABC';
    expect(verifyTrace(digest)).toMatchObject({ ok: false, seq: 0, reason: 'shape' });
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
    const hostile = { ...copy(), entries: [null, 1, 'x'] } as unknown as Trace;
    expect(verifyTrace(hostile)).toMatchObject({ ok: false, seq: 0, reason: 'shape' });
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

  it('replays a failFast run without being told failFast: the trace carries it', async () => {
    const values = { a: 1, b: new Error('breaks'), c: 3, d: 4 };
    const trace = await traceOf(values, 'ff', true);
    expect(trace.entries.some((e) => e.status === 'cancelled')).toBe(true);
    const replayed = await replay(trace, tasks(values));
    expect(replayed.ok).toBe(true);
    expect(replayed.run?.trace.digest).toBe(trace.digest);
    // Overriding the recorded option is a real difference, and replay says where.
    const without = await replay(trace, tasks(values), { failFast: false });
    expect(without).toMatchObject({ ok: false, divergence: { kind: 'status', expected: 'cancelled' } });
  });

  it('replays a version 1 trace with the options the caller passes', async () => {
    const v1 = JSON.parse(
      readFileSync(new URL('./fixtures/trace-v1.json', import.meta.url), 'utf8'),
    ) as TraceV1;
    const fixtureTasks: Task[] = [
      { id: 'a', run: () => ({ files: 3, ok: true }) },
      { id: 'b', run: () => 'text' },
      {
        id: 'c',
        run: () => {
          throw new Error('known failure');
        },
      },
      { id: 'd', run: () => 42 },
    ];
    expect((await replay(v1, fixtureTasks)).ok).toBe(true);
    const changed = fixtureTasks.map((t) => (t.id === 'd' ? { ...t, run: () => 43 } : t));
    expect(await replay(v1, changed)).toMatchObject({ ok: false, divergence: { id: 'd', kind: 'result' } });
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
