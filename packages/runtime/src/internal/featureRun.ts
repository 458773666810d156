import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
  type Clock,
  childAbortController,
  isOrdoError,
  type KeyedMutex,
  type Logger,
  syncDirectory,
  type TimerHandle,
} from '@ordo/contracts';
import { recoverSpool, type Spool } from '@ordo/executor-spool';
import type { WorkerPool } from '@ordo/governance';
import {
  createScheduler,
  type Divergence,
  type GraphTask,
  planLevels,
  type Run,
  replay,
  type TaskRecord,
  type Trace,
  verifyTrace,
} from '@ordo/kernel-scheduler';
import { createMetricsCollector, type MetricsCollector, StateStore } from '@ordo/launcher';
import { TraceInvalidError, WorkerProtocolError } from '../errors.js';
import type {
  FeatureDivergence,
  FeatureEvent,
  FeatureResult,
  FeatureStatus,
  Plan,
  PlanTask,
  TaskOutcome,
} from '../types.js';
import { type CommittedFact, editsDigest, storeTrace, traced, untraced } from './featureTrace.js';
import { LevelView, RESERVED_DIRS } from './levelView.js';
import { earlierOverlaps } from './overlapIndex.js';
import { type CommittedTask, RunJournal } from './runJournal.js';
import type { RuntimeMetrics } from './runtimeMetrics.js';
import { stageEdits } from './stageEdits.js';
import { STATE_FILE } from './stateLayout.js';
import { cancelledError, conflictError, errorCode, exitError, timeoutError } from './taskErrors.js';
import { isTaskResult, type TaskPayload } from './taskWire.js';
import { type FeatureTelemetry, traceScheduler, traceStep } from './telemetry.js';
import { killPoint } from './testKillPoint.js';

/** What a feature run needs from its runtime. */
export interface FeatureRunParts {
  workspace: string;
  stateDir: string;
  clock: Clock;
  logger: Logger;
  /** The one worker pool: tasks wait in its queue and run on its workers. */
  pool: WorkerPool<TaskPayload, unknown>;
  concurrency: number;
  metrics: RuntimeMetrics;
  /** Per-path locks of the level views (by workspace-relative path). */
  viewMutex: KeyedMutex;
  /** Called with the run's state store once it is open (the runtime reports workers and status there). */
  attach(store: StateStore, collector: MetricsCollector): void;
}

/** Options of one run. */
export interface FeatureRunOptions {
  signal: AbortSignal;
  resume: boolean;
  onEvent: ((event: FeatureEvent) => void) | undefined;
  /** A stored feature trace to replay against: the run is compared with it task by task. */
  replay?: Trace | undefined;
  /** The run's OpenTelemetry spans, when the runtime traces. */
  telemetry?: FeatureTelemetry | undefined;
}

/** A task's edits, staged and validated in its own spool, waiting for its turn to commit. */
interface Staged {
  spool: Spool;
  /** sha256 of each edited path's new content (`null`: deleted). */
  files: Record<string, string | null>;
  startedAt: number;
}

/**
 * What a task's graph node carries: `run` leaves the staged edits (or, for a task committed before a
 * resume, just its journaled fact); `commit` turns them into the {@link CommittedFact} the trace digests.
 */
type Step = CommittedFact & { staged?: Staged | undefined };

/** What the report of one committed task needs beyond its record. */
interface CommitFacts {
  files: readonly string[];
  durationMs: number;
  resumed: boolean;
}

/**
 * Runs one feature as one graph run of the kernel-scheduler (eager): a task starts once its dependencies
 * committed and once every earlier-level task whose declared files may overlap its own has committed (an
 * `after` constraint); it runs on a worker and stages its edits in a spool; the scheduler's ordered commit
 * stage then validates the claim and commits the spool, one task at a time in the deterministic order. The
 * run's trace is the feature trace: stored in the state dir, read by `verifyTrace` and `replay`. Each task is
 * reported once, when its record commits.
 */
export async function runFeatureOn(
  parts: FeatureRunParts,
  plan: Plan,
  options: FeatureRunOptions,
): Promise<FeatureResult> {
  const { workspace, stateDir, clock, logger, metrics } = parts;
  const emit = (event: FeatureEvent) => {
    options.telemetry?.onEvent(event);
    try {
      options.onEvent?.(event);
    } catch (error) {
      logger.error({ err: error, event: event.type }, 'an onEvent listener threw; fix the listener');
    }
  };
  const seed = String(plan.seed);
  if (options.replay !== undefined) {
    const check = verifyTrace(options.replay);
    if (!check.ok) throw new TraceInvalidError(check);
  }
  const levels = planLevels(plan.tasks, seed);

  // One truth for "committed": first every commit a crash left half done is finished or undone (the spool
  // rolls back a commit whose journal is still there), and only then does the journal say what committed.
  const recovered = await recoverSpool(workspace, { logger });
  if (recovered > 0) {
    logger.warn({ recovered }, 'rolled back spool commits a crash left half done; their tasks run again');
  }
  let resumed: { journal: RunJournal; committed: Map<string, CommittedTask> } | undefined;
  if (options.resume) {
    resumed = await RunJournal.resume(stateDir, workspace, {
      feature: plan.feature,
      planDigest: plan.digest,
    });
  }
  const stateFile = path.join(stateDir, STATE_FILE);
  if (!resumed) {
    await rm(stateFile, { force: true });
    await rm(`${stateFile}.bak`, { force: true });
  }
  const journal =
    resumed?.journal ??
    (await RunJournal.create(stateDir, {
      feature: plan.feature,
      planDigest: plan.digest,
      runId: randomUUID(),
    }));
  const committedBefore = resumed?.committed ?? new Map<string, CommittedTask>();
  const store = await StateStore.open({ file: stateFile, feature: plan.feature, clock, logger });
  const collector = createMetricsCollector({ source: store });
  parts.attach(store, collector);
  store.recordFeatureStarted(plan.feature);
  levels.forEach((tasks, level) => {
    for (const task of tasks) store.recordTaskCreated(task.id, level);
  });

  const stateRel = reservedState(workspace, stateDir);
  const ignored = [...RESERVED_DIRS.map((d) => `${d}/**`), ...stateRel];
  const views = levels.map(() => new LevelView(workspace, parts.viewMutex, ignored));
  const byId = new Map<string, { task: PlanTask; level: number }>();
  levels.forEach((tasks, level) => {
    for (const task of tasks) byId.set(task.id, { task, level });
  });
  const outcomes = new Map<string, TaskOutcome>();
  /** Tasks committed by this run or before its resume. */
  const done = new Set<string>();
  const facts = new Map<string, CommitFacts>();
  const startedAt = new Map<string, number>();
  /** Spools staged but not committed yet: closed at the end whatever happened to their tasks. */
  const openSpools = new Set<Spool>();
  const levelWrites: Promise<void>[] = [];
  const levelState = levels.map((tasks) => ({ started: false, left: tasks.length, failed: false }));

  emit({
    type: 'feature-start',
    feature: plan.feature,
    runId: journal.runId,
    levels: levels.length,
    tasks: plan.tasks.length,
    resumed: committedBefore.size,
    recovered,
  });

  /** A level starts with its first task (or its first outcome, when none of its tasks ever starts). */
  const openLevel = (level: number) => {
    const state = levelState[level];
    if (state === undefined || state.started) return;
    state.started = true;
    store.recordLevelStarted(level);
    emit({ type: 'level-start', level, tasks: (levels[level] ?? []).map((t) => t.id) });
  };
  const closeLevel = (level: number, taskId: string) => {
    const state = levelState[level];
    if (state === undefined) return;
    if (!done.has(taskId)) state.failed = true;
    if (--state.left > 0) return;
    const cancelled = (levels[level] ?? []).some((t) => outcomes.get(t.id)?.status === 'cancelled');
    // The journal, not the state file, is what a resume trusts: let this write land while the run goes on.
    const written = cancelled ? store.recordLevelCancelled(level) : store.recordLevelCompleted(level);
    written.catch(() => {}); // awaited (and thrown) at the end of the feature
    levelWrites.push(written);
    emit({
      type: 'level-end',
      level,
      status: cancelled ? 'cancelled' : state.failed ? 'failed' : 'completed',
    });
  };
  const report = (task: PlanTask, level: number, outcome: Omit<TaskOutcome, 'id' | 'level'>) => {
    if (outcomes.has(task.id)) return;
    openLevel(level);
    outcomes.set(task.id, { id: task.id, level, ...outcome });
    metrics.tasks.inc({ status: outcome.status });
  };

  /** Reports one committed record: the only place a task's outcome is decided, so each is reported once. */
  const onRecord = (record: TaskRecord<Step>) => {
    const entry = byId.get(record.id);
    if (entry === undefined || outcomes.has(record.id)) return;
    const { task, level } = entry;
    const fact = facts.get(task.id);
    if (record.status === 'ok') done.add(task.id);
    if (record.status === 'ok' && fact?.resumed) {
      report(task, level, { status: 'skipped', files: fact.files, durationMs: 0 });
      store.recordTaskCompleted(task.id, { durationMs: 0 });
      emit({ type: 'task-skipped', level, taskId: task.id, reason: 'committed-before-resume' });
    } else if (record.status === 'ok' && fact) {
      report(task, level, { status: 'committed', files: fact.files, durationMs: fact.durationMs });
      emit({
        type: 'task-committed',
        level,
        taskId: task.id,
        files: fact.files,
        durationMs: fact.durationMs,
      });
    } else if (record.status === 'cancelled' && cancelReason(record.error) === 'dependency') {
      const dep = (record.error as { details?: { dependency?: string } }).details?.dependency ?? '';
      store.recordTaskFailed(task.id, { error: `dependency ${dep} did not commit` });
      report(task, level, { status: 'skipped', files: [], durationMs: 0 });
      emit({ type: 'task-skipped', level, taskId: task.id, reason: 'dependency-failed' });
    } else {
      const cancelled = record.status === 'cancelled';
      const error = cancelled ? cancelledError(task.id, record.error) : untraced(record.error);
      const code = errorCode(error);
      const message = error instanceof Error ? error.message : String(error);
      const began = startedAt.get(task.id);
      const durationMs = began === undefined ? 0 : clock.now() - began;
      const status = cancelled || code === 'TASK_CANCELLED' ? 'cancelled' : 'failed';
      store.recordTaskFailed(task.id, { error: `${code}: ${message}` });
      report(task, level, { status, files: [], error: { code, message }, durationMs });
      metrics.taskDuration.observe({ status }, durationMs / 1000);
      emit({ type: 'task-failed', level, taskId: task.id, code, message });
    }
    closeLevel(level, task.id);
  };

  /** Runs a task on a worker against its level's view and stages its edits. */
  const runTask = async (task: PlanTask, level: number, signal: AbortSignal): Promise<Step> => {
    const before = committedBefore.get(task.id);
    if (before) {
      // Committed before the crash: the same fact goes in the trace, nothing runs or commits.
      facts.set(task.id, { files: before.files, durationMs: 0, resumed: true });
      return { edits: before.editsDigest };
    }
    openLevel(level);
    try {
      // Read before waiting for a worker (the view is stable), so a freed worker gets its next task
      // without waiting for the disk.
      const snapshot = await (views[level] as LevelView).snapshot(task.files);
      let began = clock.now();
      let workerId = '';
      const abort = childAbortController(signal);
      let timer: TimerHandle | undefined;
      try {
        const payload: TaskPayload = {
          feature: plan.feature,
          taskId: task.id,
          workspace,
          files: snapshot.files,
          absent: snapshot.absent,
          run: task.run,
          traceparent: options.telemetry?.traceparent(task.id, level),
        };
        const result = await parts.pool.run(payload, {
          id: task.id,
          priority: task.priority,
          preemptable: task.preemptable === true,
          signal: abort.signal,
          onStart: (start) => {
            // The time limit counts from when the task got a worker.
            began = clock.now();
            startedAt.set(task.id, began);
            workerId = start.workerId;
            // A preempted task starts again: its time limit starts again with it.
            if (timer !== undefined) clock.clearTimeout(timer);
            if (task.timeoutMs !== undefined) {
              timer = clock.setTimeout(() => abort.controller.abort(timeoutError(task)), task.timeoutMs, {
                unref: true,
              });
            }
            store.recordTaskClaimed(task.id, workerId);
            store.recordTaskStarted(task.id);
            emit({ type: 'task-start', level, taskId: task.id, workerId });
          },
        });
        if (!isTaskResult(result)) {
          throw new WorkerProtocolError(
            `Worker ${workerId} answered task ${task.id} with a malformed result. Use the worker of the same @ordo/runtime version.`,
          );
        }
        if (result.status === 'exit') throw exitError(task, result);
        const staged = await stageEdits({
          workspace,
          task,
          edits: result.edits,
          reserved: stateRel,
          clock,
          logger,
        });
        openSpools.add(staged.spool);
        try {
          // The durable half of the commit (its journal and temp files, fsynced) now, in parallel with the
          // other tasks, so the ordered commit stage only checks, renames and syncs.
          await staged.spool.prepare({ signal });
        } catch (error) {
          openSpools.delete(staged.spool);
          await staged.spool.close().catch(() => {});
          throw signal.aborted ? signal.reason : error;
        }
        if (signal.aborted) {
          // The run may already have closed the open spools: close this one here.
          openSpools.delete(staged.spool);
          await staged.spool.close().catch(() => {});
          throw signal.reason;
        }
        return { edits: '', staged: { ...staged, startedAt: began } };
      } finally {
        if (timer !== undefined) clock.clearTimeout(timer);
        abort.dispose();
      }
    } catch (error) {
      throw traced(error);
    }
  };

  /** The ordered commit stage of one task: claim its paths in its level, journal, commit the spool. */
  const commitTask = async (
    task: PlanTask,
    level: number,
    step: Step,
    signal: AbortSignal,
  ): Promise<CommittedFact> => {
    const staged = step.staged;
    if (staged === undefined) return { edits: step.edits };
    try {
      const paths = Object.keys(staged.files).sort();
      const view = views[level] as LevelView;
      const taken = view.claim(task.id, paths);
      if (taken.length > 0) throw conflictError(task.id, taken);
      const t0 = clock.now();
      await journal.rememberBaseline(await view.beforeCommit(paths));
      const digest = editsDigest(staged.files);
      // Write-ahead: the intent is durable before the spool writes its journal and files; the commit line
      // is written (durably) only once the spool's commit is done and its journal gone.
      killPoint('staged');
      await journal.intent(task.id, digest, staged.files);
      killPoint('intent');
      // A stop before the spool writes anything ends the commit here (the intent alone changes nothing).
      await staged.spool.commit({ signal });
      // The spool's journal is gone: make that durable before the commit line, or a power loss could
      // bring the journal back and have recovery roll back a commit the journal calls done.
      await syncDirectory(workspace);
      killPoint('spool-committed');
      await journal.committed(task.id);
      killPoint('commit-record');
      journal.diffLater(workspace, paths);
      const verificationMs = clock.now() - t0;
      const durationMs = clock.now() - staged.startedAt;
      metrics.commitDuration.observe(verificationMs / 1000);
      metrics.taskDuration.observe({ status: 'committed' }, durationMs / 1000);
      store.recordTaskCompleted(task.id, {
        durationMs: Math.max(0, durationMs - verificationMs),
        verificationMs,
      });
      facts.set(task.id, { files: paths, durationMs, resumed: false });
      killPoint('settled');
      return { edits: digest };
    } catch (error) {
      throw traced(error);
    } finally {
      openSpools.delete(staged.spool);
      // Closing only releases the staging files: it must not turn a durable commit into a failure.
      await staged.spool.close().catch((error: unknown) => {
        logger.warn({ err: error, taskId: task.id }, 'closing a committed task spool failed');
      });
    }
  };

  const order = levels.flat();
  // Earlier-level tasks whose declared files may overlap: a task must read what they committed.
  const overlaps = earlierOverlaps(
    order.map((task) => ({
      id: task.id,
      level: (byId.get(task.id) as { level: number }).level,
      files: task.files,
    })),
  );
  const graph: GraphTask<Step>[] = order.map((task, seq) => {
    const level = (byId.get(task.id) as { level: number }).level;
    const deps = new Set(task.deps);
    const after = (overlaps[seq] as string[]).filter((id) => !deps.has(id));
    return {
      id: task.id,
      priority: task.priority,
      deps: task.deps,
      after,
      // No scheduler timeout: it would count the wait for a worker; runTask times the worker.
      run: ({ signal }) =>
        traceStep(options.telemetry, task.id, level, 'run', () => runTask(task, level, signal)),
      commit: (step, { signal }) =>
        traceStep(options.telemetry, task.id, level, 'commit', () => commitTask(task, level, step, signal)),
    };
  });

  let run: Run<Step> | undefined;
  let divergence: Divergence | undefined;
  let failure: unknown;
  /** Closes the journal, the state store and the collector whatever state they are in (failure paths only). */
  const releaseAll = async () => {
    await Promise.allSettled([journal.close(), store.close(), collector.close()]);
  };
  // Twice the workers: a task stages its edits while the next one already runs on the worker it freed;
  // the governance queue in front of the workers keeps them one task each.
  const concurrency = parts.concurrency * 2;
  try {
    if (options.replay !== undefined) {
      const replayed = await replay(options.replay, graph, {
        concurrency,
        clock,
        logger,
        signal: options.signal,
        mode: 'eager',
        onCommit: (record) => onRecord(record as TaskRecord<Step>),
      });
      run = replayed.run as Run<Step> | undefined;
      if (!replayed.ok) divergence = replayed.divergence;
    } else {
      const scheduler = createScheduler({ concurrency, seed, clock, logger, history: { maxRuns: 0 } });
      scheduler.once('end', (ended) => {
        run = ended as Run<Step>;
      });
      try {
        await traceScheduler(options.telemetry, () =>
          scheduler.scheduleGraph(graph, { signal: options.signal, onCommit: onRecord, mode: 'eager' }),
        );
      } finally {
        await scheduler.close();
      }
    }
  } catch (error) {
    if (!options.signal.aborted) failure = error;
  } finally {
    await Promise.allSettled([...openSpools].map((spool) => spool.close()));
  }
  if (failure !== undefined) {
    // Not an abort (an onEvent callback threw, a replay rejected): release every handle, then rethrow.
    await releaseAll();
    throw failure;
  }
  // Aborted before the run began, or a replay whose order differs: nothing ran, every task is reported.
  for (const task of order) {
    if (outcomes.has(task.id)) continue;
    onRecord({
      runId: '',
      seq: -1,
      id: task.id,
      status: 'cancelled',
      error: cancelledError(task.id),
      startedAt: undefined,
      endedAt: undefined,
    });
  }

  const trace = run?.trace;
  if (trace !== undefined && options.replay === undefined) {
    try {
      await storeTrace(stateDir, plan.feature, trace);
    } catch (error) {
      await releaseAll();
      throw error;
    }
  }
  const traceDigest = trace?.digest ?? '';
  const status: FeatureStatus = options.signal.aborted
    ? 'cancelled'
    : divergence === undefined && order.every((t) => done.has(t.id))
      ? 'succeeded'
      : 'failed';
  killPoint('finished');
  // The workers leave this feature's record with it: its state file keeps no worker running after the end
  // (one that exited during the run keeps its own exit time and code).
  for (const worker of store.state.workers) {
    if (worker.exitedAt === null) store.recordWorkerExited(worker.workerId, null);
  }
  await Promise.all(levelWrites);
  await store.flush();
  const diff = await journal.diff(workspace);
  await journal.close();
  const featureMetrics = collector.featureMetrics().toJSON();
  store.storeMetrics(collector.featureMetrics());
  await store.close();
  await collector.close();
  metrics.features.inc({ status });
  emit({ type: 'feature-end', feature: plan.feature, status, traceDigest });
  return {
    feature: plan.feature,
    runId: journal.runId,
    status,
    tasks: order.map((t) => outcomes.get(t.id) as TaskOutcome),
    traceDigest,
    diff,
    metrics: featureMetrics,
    ...(divergence === undefined ? {} : { divergence: divergenceOf(divergence) }),
  };
}

/** Why the scheduler cancelled a record (`dependency`, `aborted`, `closed`, `fail-fast`), if it did. */
function cancelReason(error: unknown): string | undefined {
  if (!isOrdoError(error, 'TASK_CANCELLED')) return undefined;
  return (error as { details?: { reason?: string } }).details?.reason;
}

/** A kernel divergence in the runtime's words (the task id as `taskId`). */
function divergenceOf(divergence: Divergence): FeatureDivergence {
  return {
    seq: divergence.seq,
    taskId: divergence.id,
    kind: divergence.kind,
    expected: divergence.expected,
    actual: divergence.actual,
  };
}

/** The state dir's path relative to the workspace when it lies inside it (then tasks may not touch it). */
function reservedState(workspace: string, stateDir: string): string[] {
  const rel = path.relative(workspace, stateDir);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return [];
  return [`${rel.split(path.sep).join('/')}/**`];
}
