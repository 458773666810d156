import { Counter, Histogram, type Registry } from 'prom-client';

/** The runtime's own Prometheus metrics, beside the governance ones in the same registry. */
export interface RuntimeMetrics {
  /** `ordo_runtime_tasks_total{status}`: tasks by outcome (committed, failed, skipped, cancelled). */
  tasks: Counter<'status'>;
  /** `ordo_runtime_task_duration_seconds{status}`: from claiming a worker to the end of the commit. */
  taskDuration: Histogram<'status'>;
  /** `ordo_runtime_commit_duration_seconds`: validation and commit of one task's edits. */
  commitDuration: Histogram;
  /** `ordo_runtime_features_total{status}`: feature runs by outcome. */
  features: Counter<'status'>;
  /** `ordo_runtime_worker_crashes_total`: workers that died while the runtime was open. */
  workerCrashes: Counter;
}

/** Registers the runtime metrics in `registry`. */
export function createRuntimeMetrics(registry: Registry, prefix = 'ordo_'): RuntimeMetrics {
  const registers = [registry];
  return {
    tasks: new Counter({
      name: `${prefix}runtime_tasks_total`,
      help: 'Tasks by outcome.',
      labelNames: ['status'],
      registers,
    }),
    taskDuration: new Histogram({
      name: `${prefix}runtime_task_duration_seconds`,
      help: 'Time from claiming a worker to the end of the commit.',
      labelNames: ['status'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    commitDuration: new Histogram({
      name: `${prefix}runtime_commit_duration_seconds`,
      help: 'Validation and commit of one task’s edits.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    features: new Counter({
      name: `${prefix}runtime_features_total`,
      help: 'Feature runs by outcome.',
      labelNames: ['status'],
      registers,
    }),
    workerCrashes: new Counter({
      name: `${prefix}runtime_worker_crashes_total`,
      help: 'Workers that died while the runtime was open.',
      registers,
    }),
  };
}
