import { formatDuration } from '@ordo/launcher';
import type { FeatureEvent, FeatureResult } from '../types.js';

/**
 * The plain progress line for one feature event, as `ordo run` prints it when stdout is not a terminal
 * (a pipe, a CI log): one line per event, no escape codes, stable wording for grep.
 */
export function formatEvent(event: FeatureEvent): string {
  switch (event.type) {
    case 'feature-start': {
      const resumed = event.resumed > 0 ? `, resuming: ${event.resumed} already committed` : '';
      const recovered =
        event.recovered > 0 ? `, rolled back ${count(event.recovered, 'interrupted commit')}` : '';
      return `feature ${event.feature}: ${count(event.tasks, 'task')} in ${count(event.levels, 'level')} (run ${event.runId}${resumed}${recovered})`;
    }
    case 'level-start':
      return `level ${event.level}: started ${count(event.tasks.length, 'task')} (${event.tasks.join(', ')})`;
    case 'task-start':
      return `  task ${event.taskId}: started on ${event.workerId}`;
    case 'task-committed':
      return `  task ${event.taskId}: committed ${count(event.files.length, 'file')} in ${formatDuration(event.durationMs)}`;
    case 'task-failed':
      return `  task ${event.taskId}: FAILED ${event.code}: ${oneLine(event.message)}`;
    case 'task-skipped':
      return `  task ${event.taskId}: skipped (${event.reason === 'dependency-failed' ? 'a dependency failed' : 'committed before the resume'})`;
    case 'level-end':
      return `level ${event.level}: ${event.status}`;
    case 'feature-end':
      return `feature ${event.feature}: ${event.status} (trace ${event.traceDigest.slice(0, 12)})`;
  }
}

/**
 * The closing lines of `ordo run`: the outcome with its counts, every failed, skipped or cancelled task
 * (with the code and message of a failure), and the files the feature changed. `committedBefore` names the
 * tasks a resumed run skipped because the interrupted run had committed them: they count as committed.
 */
export function formatSummary(
  result: FeatureResult,
  committedBefore: ReadonlySet<string> = new Set(),
): string {
  const resumed = result.tasks.filter((t) => t.status === 'skipped' && committedBefore.has(t.id)).length;
  const committed = result.tasks.filter((t) => t.status === 'committed').length + resumed;
  const files = [...new Set(result.tasks.flatMap((t) => t.files))].sort();
  const mark = result.status === 'succeeded' ? '✓' : '✗';
  const before = resumed > 0 ? ` (${resumed} before the resume)` : '';
  const lines = [
    `${mark} ${result.feature} ${result.status}: ${committed}/${count(result.tasks.length, 'task')} committed${before}, ${count(files.length, 'file')} changed (trace ${result.traceDigest.slice(0, 12)})`,
  ];
  for (const task of result.tasks) {
    if (task.status === 'failed' && task.error !== undefined) {
      lines.push(`  ✗ ${task.id}: ${task.error.code}: ${oneLine(task.error.message)}`);
    } else if (task.status === 'cancelled' || (task.status === 'skipped' && !committedBefore.has(task.id))) {
      lines.push(`  - ${task.id}: ${task.status}`);
    }
  }
  if (files.length > 0) lines.push('changed files:', ...files.map((file) => `  ${file}`));
  return `${lines.join('\n')}\n`;
}

/** A multi-line message (a validation report) on one line, so each event stays one line. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ');
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
