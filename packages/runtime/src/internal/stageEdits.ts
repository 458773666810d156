import path from 'node:path';
import type { Clock, Logger } from '@ordo/contracts';
import { createSpool, type Spool, SpoolValidationError } from '@ordo/executor-spool';
import type { PlanTask } from '../types.js';
import { declaredMatcher, RESERVED_DIRS } from './levelView.js';
import { sha256 } from './runJournal.js';
import { fromWire, type WireEdit } from './taskWire.js';
import { killPoint, killPointsArmed } from './testKillPoint.js';

/** What {@link stageEdits} needs. */
export interface StageEditsOptions {
  workspace: string;
  task: PlanTask;
  edits: readonly WireEdit[];
  /** Workspace-relative globs no task may write (the state dir when it lies inside the workspace). */
  reserved: readonly string[];
  clock: Clock;
  logger: Logger;
}

/** A task's edits staged and validated in its own spool, ready to commit. */
export interface StagedEdits {
  spool: Spool;
  /** What the commit will write: sha256 of each path's new content (`null`: deleted), by spool path. */
  files: Record<string, string | null>;
}

/**
 * Stages a task's edits in a new spool over the workspace and validates them: every changed path must
 * match the task's declared files and lie outside the runtime's own directories. Throws the spool's
 * `SPOOL_VALIDATION_FAILED` (the spool is closed then; nothing was written).
 */
export async function stageEdits(options: StageEditsOptions): Promise<StagedEdits> {
  const { task, edits } = options;
  const allowed = declaredMatcher(task.files);
  const isReserved = declaredMatcher([...RESERVED_DIRS.map((d) => `${d}/**`), ...options.reserved]);
  const spool = createSpool({
    root: options.workspace,
    logger: options.logger,
    clock: options.clock,
    diffCache: false,
    // Test-only: the kill points inside the spool's commit (ORDO_TEST_KILL_AT); absent in production.
    ...(killPointsArmed
      ? {
          testHooks: {
            afterPrepare: () => killPoint('prepared'),
            beforeReplace: () => killPoint('replace'),
            afterReplace: () => killPoint('replaced'),
          },
        }
      : {}),
    validators: [
      function declaredFiles(change) {
        if (isReserved(change.path)) {
          return [`${change.path} is inside the runtime's own directories; tasks may not write there.`];
        }
        return allowed(change.path)
          ? []
          : [
              `${change.path} is outside task ${task.id}'s declared files (${task.files.join(', ') || 'none'}). Declare it in the plan's files, or do not write it.`,
            ];
      },
    ],
  });
  try {
    await spool.batch(
      edits.map((e) =>
        e.content === null
          ? { op: 'remove', path: e.path }
          : { op: 'write', path: e.path, data: fromWire(e.content) },
      ),
    );
    const issues = await spool.validate();
    if (issues.length > 0) throw new SpoolValidationError(issues);
    // Keyed by the spool's normalized paths; edits equal to the disk were dropped by the spool.
    const contents = new Map(edits.map((e) => [path.posix.normalize(e.path), e.content]));
    const files: Record<string, string | null> = {};
    for (const t of spool.touched()) {
      const content = contents.get(t.path);
      files[t.path] = t.kind === 'deleted' || !content ? null : sha256(fromWire(content));
    }
    return { spool, files };
  } catch (error) {
    await spool.close();
    throw error;
  }
}
