import { type Clock, isOrdoError, type Logger, noopLogger, systemClock } from '@ordo/contracts';
import { LRUCache } from 'lru-cache';
import { SchedulerError, SchedulerErrorCode } from './errors.js';
import { indexById, planLevels } from './planLevels.js';
import type { Task, TaskContext } from './task.js';

/** When a hook runs: `pre` before the task (it may deny it), `post` after it (it sees the outcome). */
export type HookPhase = 'pre' | 'post';

/** How the wrapped task ended, as post hooks see it. */
export type HookOutcome =
  | { readonly status: 'ok'; readonly value: unknown }
  | {
      readonly status: 'failed';
      readonly error: unknown;
    };

/** What a hook receives. */
export interface HookContext extends TaskContext {
  readonly phase: HookPhase;
  /**
   * State shared by every hook call of the same run (keyed by `runId`), kept in the pipeline's LRU cache
   * until it is idle for `contextTtlMs` or pushed out by `maxContexts`.
   */
  readonly state: Map<string, unknown>;
  /** How the task ended; set for `post` hooks only. */
  readonly outcome?: HookOutcome | undefined;
}

/** A hook's answer: nothing to let the task go on, or `{ deny: reason }` to stop it with `HOOK_DENIED`. */
export type HookVerdict = { readonly deny: string } | undefined;

/** A created hook: called once per task and phase. */
export type Hook = (context: HookContext) => HookVerdict | PromiseLike<HookVerdict>;

/** A hook as registered: a name, a phase, its ordering and a factory called once. */
export interface HookDefinition {
  /** Unique among the pipeline's hooks. */
  readonly name: string;
  readonly phase: HookPhase;
  /** Names of hooks of the same phase that must finish first. Hooks with no `after` run in parallel. @default [] */
  readonly after?: readonly string[] | undefined;
  /**
   * Makes the hook. Called once, on first use; concurrent first uses share that one call. If it throws or
   * rejects, the task fails with `HOOK_INIT_FAILED` and the next use calls it again.
   */
  create(): Hook | PromiseLike<Hook>;
}

/** Options for {@link createHookPipeline}. */
export interface HookPipelineOptions {
  readonly hooks: readonly HookDefinition[];
  /** How many runs' contexts are kept at most; the least recently used is evicted beyond. @default 1000 */
  readonly maxContexts?: number | undefined;
  /** How long an idle run context is kept, in ms. @default 600000 (10 minutes) */
  readonly contextTtlMs?: number | undefined;
  /** The clock of the context TTL. @default systemClock */
  readonly clock?: Clock | undefined;
  /** Where the pipeline logs hook failures. @default noopLogger */
  readonly logger?: Logger | undefined;
}

/**
 * Wraps tasks with pre and post hooks. Each hook is created once and cached; hooks of a phase run level by
 * level (by `after`), the hooks of one level in parallel. Make one with {@link createHookPipeline}.
 *
 * @example
 * ```ts
 * await using pipeline = createHookPipeline({ hooks });
 * await scheduler.schedule(tasks.map((task) => pipeline.wrap(task)), { runId: 'r1' });
 * pipeline.runState('r1')?.get('tokens');
 * ```
 */
export class HookPipeline {
  readonly #levels: Record<HookPhase, HookDefinition[][]>;
  readonly #instances = new Map<string, Promise<Hook>>();
  readonly #contexts: LRUCache<string, Map<string, unknown>>;
  readonly #logger: Logger;
  #closed = false;

  constructor(options: HookPipelineOptions) {
    const { hooks, maxContexts = 1000, contextTtlMs = 600_000 } = options;
    if (!(Number.isInteger(maxContexts) && maxContexts >= 1)) {
      throw invalid(`maxContexts must be an integer >= 1, got ${String(maxContexts)}.`);
    }
    if (!(typeof contextTtlMs === 'number' && contextTtlMs > 0)) {
      throw invalid(`contextTtlMs must be a number of milliseconds > 0, got ${String(contextTtlMs)}.`);
    }
    if (!Array.isArray(hooks)) throw invalid('pass the hooks as an array of { name, phase, create }.');
    const nodes = hooks.map((hook) => {
      if (typeof hook?.name !== 'string' || (hook.phase !== 'pre' && hook.phase !== 'post')) {
        throw invalid('every hook needs a string name and a phase of "pre" or "post".');
      }
      if (typeof hook.create !== 'function') throw invalid(`hook "${hook.name}" needs a create() function.`);
      return { id: hook.name, deps: hook.after, hook };
    });
    const levelsOf = (phase: HookPhase) =>
      planLevels(
        nodes.filter((node) => node.hook.phase === phase),
        '',
      ).map((level) => level.map((node) => node.hook));
    try {
      indexById(nodes);
      this.#levels = { pre: levelsOf('pre'), post: levelsOf('post') };
    } catch (error) {
      if (!isOrdoError(error)) throw error;
      throw invalid(
        `check the hook names and "after" lists (hooks are ordered by phase): ${error.message}`,
        error,
      );
    }
    const clock = options.clock ?? systemClock;
    this.#contexts = new LRUCache({
      max: maxContexts,
      ttl: contextTtlMs,
      ttlResolution: 0,
      updateAgeOnGet: true,
      // lru-cache treats a start time of 0 as "no TTL"; shift by 1 ms so a clock at 0 still expires entries.
      perf: { now: () => clock.now() + 1 },
    });
    this.#logger = options.logger ?? noopLogger;
  }

  /** How many run contexts are held now (stale ones are purged first). */
  get contextCount(): number {
    this.#contexts.purgeStale();
    return this.#contexts.size;
  }

  /** How many hooks have been created (and are cached). */
  get createdCount(): number {
    return this.#instances.size;
  }

  /** The shared state of a run, or `undefined` if it was never used or was evicted. */
  runState(runId: string): Map<string, unknown> | undefined {
    return this.#contexts.get(runId);
  }

  /**
   * Returns a task that runs the pre hooks, then `task` (unless a pre hook denied it: the wrapped task
   * then fails with `HOOK_DENIED` and `task.run` is never called), then the post hooks. A post hook that
   * denies also fails the task with `HOOK_DENIED`.
   *
   * @example
   * ```ts
   * await scheduler.schedule(tasks.map((task) => pipeline.wrap(task)));
   * ```
   */
  wrap<T>(task: Task<T>): Task<T> {
    return {
      id: task.id,
      priority: task.priority,
      timeoutMs: task.timeoutMs,
      run: async (context) => {
        if (this.#closed) {
          throw new SchedulerError(
            SchedulerErrorCode.CLOSED,
            'The hook pipeline is closed. Create a new one.',
          );
        }
        const state = this.#state(context.runId);
        await this.#phase('pre', context, state, undefined);
        let value: T;
        try {
          value = await task.run(context);
        } catch (error) {
          await this.#phase('post', context, state, { status: 'failed', error });
          throw error;
        }
        await this.#phase('post', context, state, { status: 'ok', value });
        return value;
      },
    };
  }

  /** Drops every run context and every created hook. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#contexts.clear();
    this.#instances.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #state(runId: string): Map<string, unknown> {
    let state = this.#contexts.get(runId);
    if (!state) {
      state = new Map();
      this.#contexts.set(runId, state);
    }
    return state;
  }

  async #phase(
    phase: HookPhase,
    task: TaskContext,
    state: Map<string, unknown>,
    outcome: HookOutcome | undefined,
  ): Promise<void> {
    const levels = this.#levels[phase];
    if (levels.length === 0) return;
    const context: HookContext = {
      phase,
      state,
      outcome,
      runId: task.runId,
      id: task.id,
      attempt: task.attempt,
      get signal() {
        return task.signal;
      },
      get logger() {
        return task.logger;
      },
    };
    for (const level of levels) {
      const verdicts = await Promise.all(
        level.map(async (definition) => {
          const hook = await this.#instance(definition);
          return { definition, verdict: await hook(context) };
        }),
      );
      const denied = verdicts.find((v) => v.verdict && typeof v.verdict.deny === 'string');
      if (denied) {
        const reason = (denied.verdict as { deny: string }).deny;
        throw new SchedulerError(
          SchedulerErrorCode.HOOK_DENIED,
          `The ${phase} hook "${denied.definition.name}" denied task "${task.id}": ${reason}`,
          { details: { hook: denied.definition.name, phase, reason, id: task.id } },
        );
      }
    }
  }

  #instance(definition: HookDefinition): Promise<Hook> {
    const cached = this.#instances.get(definition.name);
    if (cached) return cached;
    const created: Promise<Hook> = Promise.resolve()
      .then(() => definition.create())
      .then((hook) => {
        if (typeof hook !== 'function') throw new TypeError('create() did not return a function');
        return hook;
      })
      .catch((error: unknown) => {
        if (this.#instances.get(definition.name) === created) this.#instances.delete(definition.name);
        this.#logger.warn({ hook: definition.name, err: error }, 'hook init failed; it will be retried');
        throw new SchedulerError(
          SchedulerErrorCode.HOOK_INIT_FAILED,
          `Hook "${definition.name}" could not be created. Fix its create() or what it needs; the next task retries it.`,
          { cause: error, details: { hook: definition.name } },
        );
      });
    this.#instances.set(definition.name, created);
    return created;
  }
}

/**
 * Makes a {@link HookPipeline}.
 *
 * When to use: policy (deny lists, budgets), audit and metrics around every task, with hooks that are costly
 * to create (a connection, a loaded rule set). Gotchas: a hook's `create()` runs on first use, not here.
 *
 * @example
 * ```ts
 * const pipeline = createHookPipeline({
 *   hooks: [
 *     { name: 'policy', phase: 'pre', create: async () => (ctx) => (ctx.id.startsWith('rm-') ? { deny: 'no deletes' } : undefined) },
 *     { name: 'audit', phase: 'post', create: () => (ctx) => void log.info({ id: ctx.id, status: ctx.outcome?.status }) },
 *   ],
 *   contextTtlMs: 60_000,
 * });
 * await scheduler.schedule(tasks.map((t) => pipeline.wrap(t)));
 * ```
 */
export function createHookPipeline(options: HookPipelineOptions): HookPipeline {
  return new HookPipeline(options);
}

function invalid(message: string, cause?: unknown): SchedulerError {
  return new SchedulerError(SchedulerErrorCode.INVALID_OPTIONS, `Invalid hook pipeline: ${message}`, {
    cause,
  });
}
