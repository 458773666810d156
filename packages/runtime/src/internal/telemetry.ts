/**
 * The runtime's side of OpenTelemetry that loads nothing: what a feature run calls ({@link FeatureTelemetry}),
 * the option check, and {@link loadTelemetry}, which imports the span plumbing (and with it the optional
 * peer `@opentelemetry/api`) only for a runtime created with `telemetry: { tracer }`.
 */
import { RuntimeOptionsError } from '../errors.js';
import type { FeatureEvent, Plan, RuntimeTelemetryOptions } from '../types.js';

/** What a feature run reports to its spans. Every method is safe to call in any order and never throws. */
export interface FeatureTelemetry {
  /** Opens, annotates and ends the feature, level and task spans from the run's events. */
  onEvent(event: FeatureEvent): void;
  /** The W3C `traceparent` of the task's span, for its payload (`undefined` when the span is not valid). */
  traceparent(taskId: string, level: number): string | undefined;
  /** Runs one step of a task (the scheduler's `run`, or the spool `commit`) in a child span of the task span. */
  step<T>(taskId: string, level: number, step: 'run' | 'commit', fn: () => Promise<T>): Promise<T>;
  /** Runs the scheduler's graph run of the feature in an `ordo.scheduler.run` span, a child of the feature span. */
  scheduler<T>(fn: () => Promise<T>): Promise<T>;
  /** Ends every span still open (a run that threw, or was cut short); `error` marks them failed. */
  end(error?: unknown): void;
}

/** Makes the spans of one feature run. */
export interface RuntimeTelemetry {
  feature(plan: Plan): FeatureTelemetry;
}

/** Runs `fn` in a step span when the run is traced, else just runs it. */
export function traceStep<T>(
  telemetry: FeatureTelemetry | undefined,
  taskId: string,
  level: number,
  step: 'run' | 'commit',
  fn: () => Promise<T>,
): Promise<T> {
  return telemetry === undefined ? fn() : telemetry.step(taskId, level, step, fn);
}

/** Runs the scheduler's graph run in its span when the run is traced, else just runs it. */
export function traceScheduler<T>(telemetry: FeatureTelemetry | undefined, fn: () => Promise<T>): Promise<T> {
  return telemetry === undefined ? fn() : telemetry.scheduler(fn);
}

/**
 * The telemetry of `createRuntime({ telemetry })`: `undefined` without the option (nothing loads), else the
 * span plumbing, which imports `@opentelemetry/api`.
 *
 * @throws RuntimeOptionsError (`RUNTIME_OPTIONS_INVALID`) for a tracer without `startSpan`, or when
 * `@opentelemetry/api` cannot be imported.
 */
export async function loadTelemetry(
  options: RuntimeTelemetryOptions | undefined,
): Promise<RuntimeTelemetry | undefined> {
  if (options === undefined) return undefined;
  const tracer = (options as { tracer?: unknown } | null)?.tracer;
  if (typeof (tracer as { startSpan?: unknown } | null | undefined)?.startSpan !== 'function') {
    throw new RuntimeOptionsError(
      'telemetry.tracer',
      "expected an OpenTelemetry Tracer (trace.getTracer('ordo') from @opentelemetry/api), or leave telemetry out.",
    );
  }
  let spans: typeof import('./telemetrySpans.js');
  try {
    spans = await import('./telemetrySpans.js');
  } catch (error) {
    throw new RuntimeOptionsError(
      'telemetry',
      `tracing needs the optional peer dependency @opentelemetry/api, which could not be loaded (${(error as Error).message}). Install it next to @ordo/runtime (npm i @opentelemetry/api), or leave telemetry out.`,
      { cause: error },
    );
  }
  return spans.createRuntimeTelemetry(options);
}
