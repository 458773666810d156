import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { MAX_DURATION_MS } from '@ordo/governance';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createRuntime, type PlanInput } from '../src/index.js';
import { MAX_TIMER_MS } from '../src/internal/planSchema.js';
import { formatTraceparent, parseTraceparent } from '../src/internal/telemetryContext.js';
import { traceparentEnv, withTraceparent } from '../src/internal/telemetryWorker.js';
import { fixture, tempWorkspace } from './helpers/workspace.js';

const run = promisify(execFile);
const TSX = pathToFileURL(fileURLToPath(import.meta.resolve('tsx'))).href;
const spanTask = fixture('otel/spanTask.mjs');
const fetchTask = fixture('otel/fetchTask.mjs');
const workerSetup = pathToFileURL(fixture('otel/workerSetup.mjs')).href;

/** A provider of the real SDK whose spans land in memory. */
function memoryTracer() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracer: provider.getTracer('ordo-test'), provider };
}

/** A loopback `node:http` server that answers `data`, for the fetching task. */
async function dataServer() {
  const server = createServer((_req, res) => res.end('data'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** How far the SDK's span clocks may disagree (see the containment check). */
const CLOCK_SLACK_NS = 2_000_000n;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const attr = (span: ReadableSpan, key: string) => span.attributes[key];

describe('OpenTelemetry spans of a feature run', () => {
  it('emits feature, level and task spans with run and commit steps, and the tasks’ own spans (a fetch too) nest under them', async () => {
    const ws = await tempWorkspace();
    const { exporter, tracer, provider } = memoryTracer();
    await using server = await dataServer();
    const plan: PlanInput = {
      feature: 'traced',
      seed: 3,
      tasks: [
        { id: 'a', priority: 'HIGH', files: ['spans/a.json'], run: { module: spanTask } },
        { id: 'b', files: ['tp-b.txt'], run: { shell: 'printf %s "$TRACEPARENT" > tp-b.txt' } },
        { id: 'f', priority: 'LOW', files: ['f.txt'], run: { shell: 'echo broken >&2; exit 3' } },
        { id: 'c', deps: ['a'], files: ['spans/c.json'], run: { module: spanTask } },
        { id: 'g', deps: ['f'], files: ['g.txt'], run: { shell: 'echo g > g.txt' } },
        {
          id: 'h',
          deps: ['a'],
          files: ['spans/h.json'],
          run: { module: fetchTask, input: { port: server.port } },
        },
      ],
    };
    const result = await (async () => {
      await using runtime = await createRuntime({
        workspace: ws,
        workers: 2,
        telemetry: { tracer },
        workerEnv: { NODE_OPTIONS: `--import ${workerSetup}` },
      });
      return await runtime.runFeature(plan);
    })();
    await provider.forceFlush();
    expect(result.status).toBe('failed');
    const spans = exporter.getFinishedSpans();
    const named = (name: string) => spans.filter((s) => s.name === name);

    const [feature, ...otherFeatures] = named('ordo.feature');
    expect(otherFeatures).toEqual([]);
    expect(feature).toBeDefined();
    if (feature === undefined) return;
    expect(parentOf(feature)).toBeUndefined();
    expect(feature.attributes).toMatchObject({
      'ordo.feature': 'traced',
      'ordo.run_id': result.runId,
      'ordo.feature.status': 'failed',
      'ordo.trace.digest': result.traceDigest,
    });
    expect(result.traceDigest).toMatch(/^[0-9a-f]{64}$/);
    const traceId = feature.spanContext().traceId;
    expect(spans.every((s) => s.spanContext().traceId === traceId)).toBe(true);

    const [scheduler, ...otherSchedulers] = named('ordo.scheduler.run');
    expect(otherSchedulers).toEqual([]);
    expect(parentOf(scheduler as ReadableSpan)).toBe(idOf(feature));
    expect(scheduler?.attributes['ordo.tasks']).toBe(6);

    const levels = named('ordo.level');
    expect(levels.map((l) => attr(l, 'ordo.level')).sort()).toEqual([0, 1]);
    for (const level of levels) expect(parentOf(level)).toBe(idOf(feature));
    const levelSpan = (n: number) => levels.find((l) => attr(l, 'ordo.level') === n) as ReadableSpan;
    expect(attr(levelSpan(0), 'ordo.level.status')).toBe('failed');

    const tasks = new Map(named('ordo.task').map((s) => [attr(s, 'ordo.task.id') as string, s]));
    expect([...tasks.keys()].sort()).toEqual(['a', 'b', 'c', 'f', 'g', 'h']);
    const outcome = new Map(result.tasks.map((t) => [t.id, t]));
    for (const [id, span] of tasks) {
      const level = outcome.get(id)?.level as number;
      expect(parentOf(span)).toBe(idOf(levelSpan(level)));
      expect(attr(span, 'ordo.task.status')).toBe(outcome.get(id)?.status);
    }
    expect(tasks.get('a')?.attributes).toMatchObject({ 'ordo.task.priority': 1, 'ordo.level': 0 });
    expect(tasks.get('f')?.attributes).toMatchObject({
      'ordo.task.priority': 3,
      'ordo.task.status': 'failed',
      'ordo.error.code': 'TASK_FAILED',
    });
    expect(tasks.get('f')?.status.code).toBe(2); // SpanStatusCode.ERROR
    expect(tasks.get('g')?.attributes['ordo.task.status']).toBe('skipped');
    expect(tasks.get('g')?.attributes['ordo.worker.id']).toBeUndefined();
    for (const id of ['a', 'b', 'c', 'f']) {
      expect(String(tasks.get(id)?.attributes['ordo.worker.id'])).toMatch(/\S/);
    }

    // The scheduler's run of each task that ran, and the spool commit of each committed one.
    const steps = (name: string, id: string) =>
      named(name).filter(
        (s) => attr(s, 'ordo.task.id') === id && parentOf(s) === idOf(tasks.get(id) as ReadableSpan),
      );
    for (const id of ['a', 'b', 'c', 'f']) expect(steps('ordo.task.run', id)).toHaveLength(1);
    for (const id of ['a', 'b', 'c']) expect(steps('ordo.task.commit', id)).toHaveLength(1);
    expect(steps('ordo.task.commit', 'f')).toHaveLength(0);
    expect(steps('ordo.task.run', 'f')[0]?.attributes['ordo.error.code']).toBe('TASK_FAILED');
    // Each step lies inside its task span (give or take the SDK's clock: each span anchors its times on
    // Date.now(), whose millisecond steps can shift two spans by up to 1 ms against each other).
    for (const step of [...named('ordo.task.run'), ...named('ordo.task.commit')]) {
      const task = tasks.get(attr(step, 'ordo.task.id') as string) as ReadableSpan;
      const where = `${step.name} of ${String(attr(step, 'ordo.task.id'))}`;
      expect(hr(step.startTime) + CLOCK_SLACK_NS, where).toBeGreaterThanOrEqual(hr(task.startTime));
      expect(hr(step.endTime), where).toBeLessThanOrEqual(hr(task.endTime) + CLOCK_SLACK_NS);
    }

    // Inside the workers: the task's own spans are children of its task span (traceparent in the payload).
    for (const id of ['a', 'c']) {
      const own = JSON.parse(await readFile(path.join(ws, 'spans', `${id}.json`), 'utf8')) as Array<{
        name: string;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
      }>;
      const work = own.find((s) => s.name === 'task-work');
      const inner = own.find((s) => s.name === 'task-inner');
      expect(work).toMatchObject({ traceId, parentSpanId: idOf(tasks.get(id) as ReadableSpan) });
      expect(inner).toMatchObject({ traceId, parentSpanId: work?.spanId });
    }
    // A task's restricted fetch (@ordo/executor-spool with the worker's tracer) is a child of its task span.
    const fetched = JSON.parse(await readFile(path.join(ws, 'spans', 'h.json'), 'utf8')) as {
      body: string;
      spans: Array<{ traceId: string; parentSpanId?: string; status: number }>;
    };
    expect(fetched.body).toBe('data');
    expect(fetched.spans).toEqual([
      expect.objectContaining({
        traceId,
        parentSpanId: idOf(tasks.get('h') as ReadableSpan),
        status: 200,
      }),
    ]);
    // A shell task gets its task span's context as TRACEPARENT.
    const b = tasks.get('b') as ReadableSpan;
    expect(await readFile(path.join(ws, 'tp-b.txt'), 'utf8')).toBe(`00-${traceId}-${idOf(b)}-01`);
  });

  it('makes the feature span a child of the host context active when runFeature is called', async () => {
    const ws = await tempWorkspace();
    const { exporter, tracer } = memoryTracer();
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      await using runtime = await createRuntime({ workspace: ws, workers: 1, telemetry: { tracer } });
      const host = tracer.startSpan('host-request');
      const result = await context.with(trace.setSpan(ROOT_CONTEXT, host), () =>
        runtime.runFeature({
          feature: 'child',
          tasks: [{ id: 'x', files: ['x.txt'], run: { shell: 'echo x > x.txt' } }],
        }),
      );
      host.end();
      expect(result.status).toBe('succeeded');
      const feature = exporter.getFinishedSpans().find((s) => s.name === 'ordo.feature') as ReadableSpan;
      expect(parentOf(feature)).toBe(host.spanContext().spanId);
      expect(feature.spanContext().traceId).toBe(host.spanContext().traceId);
    } finally {
      context.disable();
    }
  });

  it('ends every span of a cancelled run: the task cancelled with its code, not as an error', async () => {
    const ws = await tempWorkspace();
    const pidFile = path.join(await tempDir('ordo-otel-pid-'), 'pid');
    const { exporter, tracer } = memoryTracer();
    await using runtime = await createRuntime({ workspace: ws, workers: 1, telemetry: { tracer } });
    const abort = new AbortController();
    const result = await runtime.runFeature(
      {
        feature: 'cancelled',
        tasks: [
          {
            id: 'h',
            files: ['h.txt'],
            run: { module: fixture('tasks.mjs'), export: 'hang', input: { pidFile } },
          },
          { id: 'after', deps: ['h'], files: ['a.txt'], run: { shell: 'echo a > a.txt' } },
        ],
      },
      { signal: abort.signal, onEvent: (e) => e.type === 'task-start' && abort.abort() },
    );
    expect(result.status).toBe('cancelled');
    const spans = exporter.getFinishedSpans();
    const task = (id: string) =>
      spans.find((s) => s.name === 'ordo.task' && attr(s, 'ordo.task.id') === id) as ReadableSpan;
    expect(task('h').attributes).toMatchObject({
      'ordo.task.status': 'cancelled',
      'ordo.error.code': 'TASK_CANCELLED',
    });
    expect(task('h').status.code).not.toBe(2);
    expect(attr(task('after'), 'ordo.task.status')).toBe(result.tasks[1]?.status);
    const feature = spans.find((s) => s.name === 'ordo.feature') as ReadableSpan;
    expect(attr(feature, 'ordo.feature.status')).toBe('cancelled');
    expect(spans.filter((s) => s.name === 'ordo.level').every((l) => l.ended)).toBe(true);
  });

  it('runs a feature unchanged when the tracer throws', async () => {
    const ws = await tempWorkspace();
    const tracer = {
      startSpan: () => {
        throw new Error('tracer broke');
      },
    };
    await using runtime = await createRuntime({ workspace: ws, workers: 1, telemetry: { tracer } });
    const result = await runtime.runFeature({
      feature: 'broken-tracer',
      tasks: [
        {
          id: 'x',
          files: ['x.txt'],
          run: { shell: 'if [ -n "$TRACEPARENT" ]; then printf set; else printf none; fi > x.txt' },
        },
      ],
    });
    expect(result.status).toBe('succeeded');
    expect(await readFile(path.join(ws, 'x.txt'), 'utf8')).toBe('none');
  });

  it('refuses a telemetry option without a tracer with RUNTIME_OPTIONS_INVALID', async () => {
    const ws = await tempWorkspace();
    for (const telemetry of [{}, { tracer: null }, { tracer: { startSpan: 'no' } }, null]) {
      await expect(createRuntime({ workspace: ws, telemetry: telemetry as never })).rejects.toMatchObject({
        code: 'RUNTIME_OPTIONS_INVALID',
        message: expect.stringContaining('telemetry'),
      });
    }
  });

  it('loads nothing of OpenTelemetry without the option, and says how to install it when asked (fresh process, peer blocked)', async () => {
    const ws = await tempWorkspace();
    const log = path.join(await tempDir('ordo-otel-log-'), 'attempts.log');
    const child = fixture('otel/noOtelChild.ts');
    const block = pathToFileURL(fixture('otel/blockOtel.mjs')).href;
    const { stdout } = await run(
      process.execPath,
      ['--conditions=@ordo/source', '--import', TSX, child, ws, log, fixture('tasks.mjs')],
      {
        cwd: path.dirname(child),
        env: { ...process.env, NODE_OPTIONS: `--import ${block}`, ORDO_TEST_OTEL_LOG: log },
        timeout: 60_000,
      },
    );
    const report = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    // No import of @opentelemetry/* was even tried, by the host or its workers.
    expect(report).toMatchObject({ afterImport: '', afterRun: '', status: 'succeeded', shell: 'none\n' });
    expect(report.cjsAfterImport).toEqual([]);
    // The only OpenTelemetry code in the process is prom-client's own dependency (it requires
    // @opentelemetry/api for exemplars), loaded with governance's metrics by createRuntime, not by ordo.
    const fromPromClient = createRequire(createRequire(import.meta.url).resolve('prom-client')).resolve(
      '@opentelemetry/api',
    );
    const promClientOtel = fromPromClient.slice(0, fromPromClient.indexOf('/@opentelemetry/api/') + 20);
    expect(report.cjsAfterRun).toContain(fromPromClient);
    for (const file of report.cjsAfterRun) expect(file.startsWith(promClientOtel)).toBe(true);
    expect(report.telemetryError).toMatchObject({ code: 'RUNTIME_OPTIONS_INVALID' });
    expect(report.telemetryError.message).toContain('npm i @opentelemetry/api');
  }, 90_000);
});

describe('trace context on the wire', () => {
  const hex = (n: number) =>
    fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`)).filter((s) => s !== '0'.repeat(n));

  it('round-trips every valid span context through traceparent', () => {
    fc.assert(
      fc.property(hex(32), hex(16), fc.integer({ min: 0, max: 255 }), (traceId, spanId, traceFlags) => {
        const header = formatTraceparent({ traceId, spanId, traceFlags });
        expect(header).toHaveLength(55);
        expect(parseTraceparent(header)).toEqual({ traceId, spanId, traceFlags });
      }),
    );
  });

  it('refuses malformed and hostile traceparents, and a worker then runs the task untraced', async () => {
    const bad: unknown[] = [
      undefined,
      null,
      42,
      {},
      ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
      '',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
      '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n',
      `00-${'a'.repeat(1_000_000)}`,
    ];
    for (const value of bad) {
      expect(parseTraceparent(value)).toBeUndefined();
      expect(traceparentEnv(value)).toEqual({});
      await expect(withTraceparent(value, async () => trace.getActiveSpan())).resolves.toBeUndefined();
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (value) => {
        const parsed = parseTraceparent(value);
        if (parsed !== undefined) expect(formatTraceparent(parsed)).toBe(value);
      }),
    );
    expect(
      formatTraceparent({ traceId: '0'.repeat(32), spanId: '1'.repeat(16), traceFlags: 1 }),
    ).toBeUndefined();
    expect(
      formatTraceparent({ traceId: '1'.repeat(32), spanId: '1'.repeat(16), traceFlags: 256 }),
    ).toBeUndefined();
  });

  it('keeps the plan timeout bound equal to governance’s MAX_DURATION_MS', () => {
    expect(MAX_TIMER_MS).toBe(MAX_DURATION_MS);
  });
});

function hr(time: readonly [number, number]): bigint {
  return BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
}
