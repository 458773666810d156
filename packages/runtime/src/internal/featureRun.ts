import { randomUUID } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  type Clock,
  childAbortController,
  type KeyedMutex,
  type Logger,
  type TimerHandle,
} from '@ordo/contracts';
import { recoverSpool, type Spool } from '@ordo/executor-spool';
import type { WorkerPool } from '@ordo/governance';
import { createScheduler, planLevels, type TaskRecord } from '@ordo/kernel-scheduler';
import { MetricsCollector, StateStore } from '@ordo/launcher';
import { WorkerProtocolError } from '../errors.js';
import type { FeatureEvent, FeatureResult, FeatureStatus, Plan, PlanTask, TaskOutcome } from '../types.js';
import { editsDigest, type FeatureTraceEntry, featureTraceDigest } from './featureTrace.js';
import { LevelView, mayOverlap, RESERVED_DIRS } from './levelView.js';
import { type CommittedTask, RunJournal } from './runJournal.js';
import type { RuntimeMetrics } from './runtimeMetrics.js';
import { stageEdits } from './stageEdits.js';
import { STATE_FILE } from './stateLayout.js';
import { cancelledError, conflictError, errorCode, exitError, timeoutError } from './taskErrors.js';
import { isTaskResult, type TaskPayload } from './taskWire.js';
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
}

/** A task's edits, staged and validated in its own spool, waiting for its turn to commit. */
interface Staged {
  spool: Spool;
  /** sha256 of each edited path's new content (`null`: deleted). */
  files: Record<string, string | null>;
  startedAt: number;
}

/**
 * Runs one feature: its levels in order, each level's tasks through the scheduler (one at a time per
 * worker), every task's edits staged in a spool, validated against its declared files, and committed in
 * the scheduler's commit order; records state, metrics and the journal at every step.
 */
export async function runFeatureOn(
  parts: FeatureRunParts,
  plan: Plan,
  options: FeatureRunOptions,
): Promise<FeatureResult> {
  const { workspace, stateDir, clock, logger, metrics } = parts;
  const emit = (event: FeatureEvent) => {
    try {
      options.onEvent?.(event);
    } catch (error) {
      logger.error({ err: error, event: event.type }, 'an onEvent listener threw; fix the listener');
    }
  };
  const levels = planLevels(plan.tasks, String(plan.seed));

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
  const collector = new MetricsCollector(store);
  parts.attach(store, collector);
  store.recordFeatureStarted(plan.feature);

  const outcomes = new Map<string, TaskOutcome>();
  const levelWrites: Promise<void>[] = [];
  const trace = new Map<string, FeatureTraceEntry>();
  const stateRel = reservedState(workspace, stateDir);
  const ignored = [...RESERVED_DIRS.map((d) => `${d}/**`), ...stateRel];
  const waitFor = predecessors(levels);
  const peers = levelPeers(levels);
  /** Resolves once a task has an outcome; the tasks that wait for it read the disk only after that. */
  const done = new Map(plan.tasks.map((t) => [t.id, deferred()]));

  emit({
    type: 'feature-start',
    feature: plan.feature,
    runId: journal.runId,
    levels: levels.length,
    tasks: plan.tasks.length,
    resumed: committedBefore.size,
    recovered,
  });

  const settle = (
    task: PlanTask,
    level: number,
    outcome: Omit<TaskOutcome, 'id' | 'level'>,
    fact: string,
  ) => {
    outcomes.set(task.id, { id: task.id, level, ...outcome });
    trace.set(task.id, { level, taskId: task.id, status: outcome.status, fact });
    metrics.tasks.inc({ status: outcome.status });
    done.get(task.id)?.resolve();
  };
  const skipForDependency = (task: PlanTask, level: number, dep: string) => {
    store.recordTaskFailed(task.id, { error: `dependency ${dep} did not commit` });
    settle(task, level, { status: 'skipped', files: [], durationMs: 0 }, `dependency-failed:${dep}`);
    emit({ type: 'task-skipped', level, taskId: task.id, reason: 'dependency-failed' });
  };
  const fail = (task: PlanTask, level: number, error: unknown, startedAt: number | undefined) => {
    const code = errorCode(error);
    const message = error instanceof Error ? error.message : String(error);
    const durationMs = startedAt === undefined ? 0 : clock.now() - startedAt;
    const cancelled = code === 'TASK_CANCELLED' || code === 'SCHEDULER_CANCELLED';
    store.recordTaskFailed(task.id, { error: `${code}: ${message}` });
    settle(
      task,
      level,
      { status: cancelled ? 'cancelled' : 'failed', files: [], error: { code, message }, durationMs },
      cancelled ? '' : code,
    );
    metrics.taskDuration.observe({ status: cancelled ? 'cancelled' : 'failed' }, durationMs / 1000);
    emit({ type: 'task-failed', level, taskId: task.id, code, message });
  };

  /**
   * Runs one level. Levels run at once: a task starts as soon as the tasks it waits for (its dependencies
   * and the earlier tasks whose declared files may overlap its own) have an outcome, so it reads exactly
   * what it would read after a barrier between levels, without waiting for the level's stragglers.
   */
  const runLevel = async (level: number, tasks: readonly PlanTask[]) => {
    const view = new LevelView(workspace, parts.viewMutex, ignored);
    // Twice the workers: a task stages its edits while the next one already runs on the worker it freed;
    // the governance queue in front of the workers keeps them one task each.
    const scheduler = createScheduler({
      concurrency: parts.concurrency * 2,
      seed: String(plan.seed),
      clock,
      logger,
    });
    try {
      const ids = tasks.map((t) => t.id);
      store.recordLevelStarted(level, ids);
      emit({ type: 'level-start', level, tasks: ids });
      const toRun: PlanTask[] = [];
      for (const task of tasks) {
        const before = committedBefore.get(task.id);
        if (before) {
          store.recordTaskCompleted(task.id, { durationMs: 0 });
          settle(task, level, { status: 'skipped', files: before.files, durationMs: 0 }, before.editsDigest);
          // A task committed before the crash counts as committed in the trace.
          trace.set(task.id, { level, taskId: task.id, status: 'committed', fact: before.editsDigest });
          emit({ type: 'task-skipped', level, taskId: task.id, reason: 'committed-before-resume' });
        } else if (options.signal.aborted) {
          fail(task, level, cancelledError(task.id), undefined);
        } else toRun.push(task);
      }

      const byId = new Map(toRun.map((t) => [t.id, t]));
      // execTask settles every task it ran; a record without an outcome never ran (the run was aborted).
      const onCommit = (record: TaskRecord<void>) => {
        const task = byId.get(record.id) as PlanTask;
        if (outcomes.has(task.id)) return;
        const error = record.status === 'failed' ? record.error : cancelledError(task.id, record.error);
        fail(task, level, error, record.startedAt);
      };

      const commitTask = async (task: PlanTask, level: number, staged: Staged) => {
        const t0 = clock.now();
        const paths = Object.keys(staged.files).sort();
        await journal.rememberBaseline(await view.beforeCommit(paths));
        const digest = editsDigest(staged.files);
        // Write-ahead: the intent is durable before the spool writes its journal and files; the commit line
        // is written (durably) only once the spool's commit is done and its journal gone.
        killPoint('staged');
        await journal.intent(task.id, digest, staged.files);
        killPoint('intent');
        await staged.spool.commit();
        // The spool's journal is gone: make that durable before the commit line, or a power loss could
        // bring the journal back and have recovery roll back a commit the journal calls done.
        await syncDir(workspace);
        killPoint('spool-committed');
        await journal.committed(task.id);
        killPoint('commit-record');
        const verificationMs = clock.now() - t0;
        const durationMs = clock.now() - staged.startedAt;
        metrics.commitDuration.observe(verificationMs / 1000);
        metrics.taskDuration.observe({ status: 'committed' }, durationMs / 1000);
        store.recordTaskCompleted(task.id, {
          durationMs: Math.max(0, durationMs - verificationMs),
          verificationMs,
        });
        settle(task, level, { status: 'committed', files: paths, durationMs }, digest);
        killPoint('settled');
        emit({ type: 'task-committed', level, taskId: task.id, files: paths, durationMs });
      };

      /**
       * One task from start to outcome: wait for what it depends on, read its files, run it on a worker,
       * stage its edits, wait for the earlier tasks of the level whose files may overlap (so conflicts are
       * decided in plan order), claim its paths and commit. Settles the task whatever happens.
       */
      const execTask = async (task: PlanTask, signal: AbortSignal): Promise<void> => {
        let staged: Staged | undefined;
        try {
          staged = await runOnWorker(task, signal);
          if (staged === undefined) return; // skipped for a dependency
          await untilSettled(
            (peers.get(task.id) ?? []).map((id) => done.get(id)?.promise),
            signal,
          );
          const taken = view.claim(task.id, Object.keys(staged.files));
          if (taken.length > 0) throw conflictError(task.id, taken);
          await commitTask(task, level, staged);
        } catch (error) {
          const aborted = signal.aborted && error === signal.reason;
          fail(task, level, aborted ? cancelledError(task.id, error) : error, staged?.startedAt);
        } finally {
          await staged?.spool.close();
        }
      };

      const runOnWorker = async (task: PlanTask, signal: AbortSignal): Promise<Staged | undefined> => {
        await untilSettled(
          (waitFor.get(task.id) ?? []).map((id) => done.get(id)?.promise),
          signal,
        );
        const failedDep = task.deps.find((d) => trace.get(d)?.status !== 'committed');
        if (failedDep !== undefined) {
          skipForDependency(task, level, failedDep);
          return undefined;
        }
        // Read before waiting for a worker (the view is stable), so a freed worker gets its next task
        // without waiting for the disk.
        const snapshot = await view.snapshot(task.files);
        let startedAt = clock.now();
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
          };
          const result = await parts.pool.run(payload, {
            id: task.id,
            priority: task.priority,
            preemptable: task.preemptable === true,
            signal: abort.signal,
            onStart: (start) => {
              // The time limit counts from when the task got a worker.
              startedAt = clock.now();
              workerId = start.workerId;
              if (task.timeoutMs !== undefined && timer === undefined) {
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
          return {
            ...(await stageEdits({
              workspace,
              task,
              edits: result.edits,
              reserved: stateRel,
              clock,
              logger,
            })),
            startedAt,
          };
        } finally {
          if (timer !== undefined) clock.clearTimeout(timer);
          abort.dispose();
        }
      };

      if (toRun.length > 0) {
        try {
          await scheduler.schedule(
            // No scheduler timeout: it would count the wait for earlier tasks; execTask times the worker.
            toRun.map((task) => ({
              id: task.id,
              priority: task.priority,
              run: ({ signal }) => execTask(task, signal),
            })),
            { signal: options.signal, onCommit },
          );
        } catch (error) {
          if (!options.signal.aborted) throw error;
        }
        for (const task of toRun)
          if (!outcomes.has(task.id)) fail(task, level, cancelledError(task.id), undefined);
      }
      const levelFailed = tasks.some((t) => trace.get(t.id)?.status !== 'committed');
      // The journal, not the state file, is what a resume trusts: let this write land while the next level runs.
      const written = store.recordLevelCompleted(level);
      written.catch(() => {}); // awaited (and thrown) at the end of the feature
      levelWrites.push(written);
      emit({ type: 'level-end', level, status: levelFailed ? 'failed' : 'completed' });
    } finally {
      await scheduler.close();
    }
  };
  await Promise.all(levels.map((tasks, level) => runLevel(level, tasks)));

  const ordered = levels.flat();
  const traceDigest = featureTraceDigest(
    plan.feature,
    plan.seed,
    ordered.map((t) => trace.get(t.id) as FeatureTraceEntry),
  );
  const status: FeatureStatus = options.signal.aborted
    ? 'cancelled'
    : ordered.every((t) => trace.get(t.id)?.status === 'committed')
      ? 'succeeded'
      : 'failed';
  killPoint('finished');
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
    tasks: ordered.map((t) => outcomes.get(t.id) as TaskOutcome),
    traceDigest,
    diff,
    metrics: featureMetrics,
  };
}

/** The state dir's path relative to the workspace when it lies inside it (then tasks may not touch it). */
function reservedState(workspace: string, stateDir: string): string[] {
  const rel = path.relative(workspace, stateDir);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return [];
  return [`${rel.split(path.sep).join('/')}/**`];
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Waits for every promise (they never reject), or rejects with `signal.reason` when it aborts first. */
function untilSettled(
  promises: ReadonlyArray<Promise<void> | undefined>,
  signal: AbortSignal,
): Promise<void> {
  signal.throwIfAborted();
  const all = Promise.all(promises);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void all.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/**
 * For each task, the earlier-level tasks it must wait for: its dependencies, and every task of an earlier
 * level whose declared files may overlap its own (a task writes only its declared files, so the others
 * cannot change what it reads).
 */
function predecessors(levels: readonly (readonly PlanTask[])[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const earlier: PlanTask[] = [];
  for (const tasks of levels) {
    for (const task of tasks) {
      const wait = new Set(task.deps);
      for (const other of earlier) if (mayOverlap(task.files, other.files)) wait.add(other.id);
      out.set(task.id, [...wait]);
    }
    earlier.push(...tasks);
  }
  return out;
}

/**
 * For each task, the tasks before it in its level's order whose declared files may overlap its own: it
 * commits only once they have an outcome, so which of two overlapping tasks wins a path is decided by the
 * plan's order, never by timing.
 */
function levelPeers(levels: readonly (readonly PlanTask[])[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const tasks of levels) {
    tasks.forEach((task, i) => {
      out.set(
        task.id,
        tasks.slice(0, i).flatMap((other) => (mayOverlap(task.files, other.files) ? [other.id] : [])),
      );
    });
  }
  return out;
}

/** fsyncs a directory (its entries' creations and removals); a file system that cannot is left as it is. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // not supported here (some network file systems): renames are still atomic
  } finally {
    await handle.close();
  }
}
