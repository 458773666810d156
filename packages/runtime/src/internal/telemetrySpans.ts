/**
 * The spans of a traced feature run, on `@opentelemetry/api` (the optional peer; this module is imported
 * only by `loadTelemetry`, for a runtime created with `telemetry: { tracer }`).
 *
 * Shape: `ordo.feature` (the host's active context as parent) → `ordo.level` per level → `ordo.task` per
 * task → `ordo.task.run` (the scheduler's run of the task: snapshot, queue, worker, staging) and
 * `ordo.task.commit` (the ordered spool commit); beside the levels, `ordo.scheduler.run` spans the
 * scheduler's graph run of the whole feature. A task's worker gets the `ordo.task` span's context as a
 * W3C `traceparent`, so the spans the task makes nest under it.
 */
import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  type Span,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { FeatureEvent, Plan, RuntimeTelemetryOptions } from '../types.js';
import { untraced } from './featureTrace.js';
import { errorCode } from './taskErrors.js';
import type { FeatureTelemetry, RuntimeTelemetry } from './telemetry.js';
import { formatTraceparent } from './telemetryContext.js';

/** The attribute names of ordo's spans. */
export const SpanAttribute = {
  FEATURE: 'ordo.feature',
  RUN_ID: 'ordo.run_id',
  FEATURE_STATUS: 'ordo.feature.status',
  TRACE_DIGEST: 'ordo.trace.digest',
  LEVEL: 'ordo.level',
  LEVEL_STATUS: 'ordo.level.status',
  TASK_ID: 'ordo.task.id',
  TASK_PRIORITY: 'ordo.task.priority',
  TASK_STATUS: 'ordo.task.status',
  WORKER_ID: 'ordo.worker.id',
  ERROR_CODE: 'ordo.error.code',
  TASKS: 'ordo.tasks',
} as const;

/** What the runtime uses of a `Tracer` (all that `TelemetryTracer` asks of the host). */
type SpanStarter = Pick<Tracer, 'startSpan'>;

/** The runtime's telemetry on the host's tracer. */
export function createRuntimeTelemetry(options: RuntimeTelemetryOptions): RuntimeTelemetry {
  const tracer = safeTracer(options.tracer as unknown as SpanStarter);
  return { feature: (plan) => createFeatureSpans(tracer, plan, context.active()) };
}

/**
 * The host's tracer, except that a `startSpan` that throws gives a non-recording span: a broken tracer
 * loses spans, never a run.
 */
function safeTracer(tracer: SpanStarter): SpanStarter {
  return {
    startSpan: (name, options, parent) => {
      try {
        return tracer.startSpan(name, options, parent);
      } catch {
        return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
      }
    },
  };
}

/** The spans of one run of `plan`, under `parent`. */
export function createFeatureSpans(tracer: SpanStarter, plan: Plan, parent: Context): FeatureTelemetry {
  const priority = new Map(plan.tasks.map((t) => [t.id, t.priority]));
  const feature = tracer.startSpan(
    'ordo.feature',
    { attributes: { [SpanAttribute.FEATURE]: plan.feature } },
    parent,
  );
  const featureContext = trace.setSpan(parent, feature);
  const levels = new Map<number, { span: Span; context: Context }>();
  const tasks = new Map<string, { span: Span; context: Context }>();
  let ended = false;

  const levelSpan = (level: number) => {
    let entry = levels.get(level);
    if (entry === undefined) {
      const span = tracer.startSpan(
        'ordo.level',
        { attributes: { [SpanAttribute.LEVEL]: level } },
        featureContext,
      );
      entry = { span, context: trace.setSpan(featureContext, span) };
      levels.set(level, entry);
    }
    return entry;
  };
  const taskSpan = (taskId: string, level: number) => {
    let entry = tasks.get(taskId);
    if (entry === undefined) {
      const parentContext = levelSpan(level).context;
      const span = tracer.startSpan(
        'ordo.task',
        {
          attributes: {
            [SpanAttribute.TASK_ID]: taskId,
            [SpanAttribute.LEVEL]: level,
            ...(priority.has(taskId) ? { [SpanAttribute.TASK_PRIORITY]: priority.get(taskId) } : {}),
          },
        },
        parentContext,
      );
      entry = { span, context: trace.setSpan(parentContext, span) };
      tasks.set(taskId, entry);
    }
    return entry;
  };
  const endTask = (
    taskId: string,
    level: number,
    status: string,
    error?: { code: string; message: string },
  ) => {
    const { span } = taskSpan(taskId, level);
    span.setAttribute(SpanAttribute.TASK_STATUS, status);
    if (error !== undefined) span.setAttribute(SpanAttribute.ERROR_CODE, error.code);
    // A cancelled task carries its code (TASK_CANCELLED) but is not an error of the task.
    if (error !== undefined && status === 'failed') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${error.code}: ${error.message}` });
    }
    span.end();
  };

  /** Runs `fn` in a span `name` under `parentContext`; a rejection marks it failed with its error code. */
  const inSpan = <T>(
    name: string,
    attributes: Record<string, string | number>,
    parentContext: Context,
    fn: () => Promise<T>,
  ): Promise<T> => {
    const span = tracer.startSpan(name, { attributes }, parentContext);
    const settle = (failure?: { error: unknown }) => {
      try {
        if (failure !== undefined) {
          const error = untraced(failure.error);
          const code = errorCode(error);
          span.setAttribute(SpanAttribute.ERROR_CODE, code);
          const message = error instanceof Error ? error.message : String(error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: `${code}: ${message}` });
        }
        span.end();
      } catch {
        // A span that throws loses its end, not the task.
      }
    };
    return context.with(trace.setSpan(parentContext, span), fn).then(
      (value) => {
        settle();
        return value;
      },
      (error: unknown) => {
        settle({ error });
        throw error;
      },
    );
  };

  const onEvent = (event: FeatureEvent) => {
    if (ended) return;
    switch (event.type) {
      case 'feature-start':
        feature.setAttributes({ [SpanAttribute.RUN_ID]: event.runId });
        return;
      case 'level-start':
        levelSpan(event.level);
        return;
      case 'task-start':
        taskSpan(event.taskId, event.level).span.setAttribute(SpanAttribute.WORKER_ID, event.workerId);
        return;
      case 'task-committed':
        endTask(event.taskId, event.level, 'committed');
        return;
      case 'task-skipped':
        endTask(event.taskId, event.level, 'skipped');
        return;
      case 'task-failed':
        endTask(event.taskId, event.level, event.code === 'TASK_CANCELLED' ? 'cancelled' : 'failed', event);
        return;
      case 'level-end': {
        const { span } = levelSpan(event.level);
        span.setAttribute(SpanAttribute.LEVEL_STATUS, event.status);
        if (event.status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        return;
      }
      case 'feature-end':
        feature.setAttributes({
          [SpanAttribute.FEATURE_STATUS]: event.status,
          [SpanAttribute.TRACE_DIGEST]: event.traceDigest,
        });
        if (event.status === 'failed') feature.setStatus({ code: SpanStatusCode.ERROR });
        feature.end();
        ended = true;
        return;
    }
  };

  return {
    onEvent: (event) => {
      try {
        onEvent(event);
      } catch {
        // A tracer that throws must not break the run.
      }
    },
    traceparent: (taskId, level) => {
      if (ended) return undefined;
      try {
        return formatTraceparent(taskSpan(taskId, level).span.spanContext());
      } catch {
        return undefined;
      }
    },
    step: (taskId, level, step, fn) => {
      if (ended) return fn();
      return inSpan(
        `ordo.task.${step}`,
        { [SpanAttribute.TASK_ID]: taskId },
        taskSpan(taskId, level).context,
        fn,
      );
    },
    scheduler: (fn) => {
      if (ended) return fn();
      return inSpan('ordo.scheduler.run', { [SpanAttribute.TASKS]: plan.tasks.length }, featureContext, fn);
    },
    end: (error) => {
      if (ended) return;
      ended = true;
      const open = [...tasks.values(), ...levels.values()].map((e) => e.span);
      for (const span of [...open, feature]) {
        try {
          if (!span.isRecording()) continue;
          if (error !== undefined) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
          }
          span.end();
        } catch {
          // As in onEvent: a broken span is skipped.
        }
      }
    },
  };
}
