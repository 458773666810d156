import { lazyModule } from '@ordo/contracts';
import type TableClass from 'cli-table3';
import type Picocolors from 'picocolors';
import { formatDuration, openDuration, toEpochMs } from './duration.js';
import type { FeatureMetrics, LevelMetrics } from './metrics.js';

// Loaded by the first render, not by importing the package: a host that never renders a status (the
// runtime's parent process, for one) does not carry them.
const Table = lazyModule<typeof TableClass>(import.meta.url, 'cli-table3');
const pc = lazyModule<typeof Picocolors>(import.meta.url, 'picocolors');

/** Options for {@link renderStatus}. */
export interface RenderStatusOptions {
  /**
   * Color the output with ANSI escapes. Ignored (no color) when the `NO_COLOR` environment variable is set
   * to anything but the empty string.
   * @default false
   */
  color?: boolean | undefined;
  /** The terminal width in columns; the progress bar is fitted to it. @default 80 */
  width?: number | undefined;
  /**
   * The moment open durations (running levels, live workers, the feature) are measured to. Pass the
   * current time to tick a live view between metric updates.
   * @default metrics.generatedAt
   */
  now?: Date | number | undefined;
}

const BAR_MIN = 10;
const BAR_MAX = 50;

/**
 * Renders feature metrics as the text of `ordo status`: a header with the feature's name, a progress bar
 * with the percentage and `(done/total tasks)`, one line per level (`✓ DONE 2m15s (4 tasks, avg=34s,
 * p95=58s)`, `RUNNING 1m30s (3/5 tasks)`, `PENDING`), a worker table (Worker, Init, Tasks, Avg, Uptime)
 * and a totals line. Durations read `950ms`, `1.2s`, `45s`, `4m30s`, `1h02m`.
 *
 * Gotchas: a pure function of its input; it never reads the clock. Colors only when `color: true` and
 * `NO_COLOR` is unset.
 *
 * @example
 * ```ts
 * const { state } = await readStateFile('.ordo/state.json');
 * const collector = createMetricsCollector({ source: { revision: state.revision, state } });
 * process.stdout.write(renderStatus(collector.featureMetrics(), { color: process.stdout.isTTY }));
 * ```
 */
export function renderStatus(metrics: FeatureMetrics, options: RenderStatusOptions = {}): string {
  const noColor = (process.env.NO_COLOR ?? '') !== '';
  const c = pc().createColors(options.color === true && !noColor);
  const width = options.width ?? 80;
  const now = toEpochMs(options.now ?? metrics.generatedAt) as number;
  const openMs = (start: number | null, end: number | null) => openDuration(start, end, now);

  const lines: string[] = [];
  lines.push(c.bold(`Feature: ${metrics.feature}`));

  const done = metrics.completedTasks;
  const total = metrics.totalTasks;
  const ratio = total === 0 ? 0 : done / total;
  const suffix = ` ${String(Math.floor(ratio * 100)).padStart(3)}% (${done}/${total} tasks)`;
  const barWidth = Math.max(BAR_MIN, Math.min(BAR_MAX, width - suffix.length - 2));
  const filled = Math.floor(ratio * barWidth);
  lines.push(`[${c.green('█'.repeat(filled))}${c.dim('░'.repeat(barWidth - filled))}]${suffix}`);

  if (metrics.levels.length > 0) {
    lines.push('', c.bold('Levels'));
    const labelWidth = Math.max(...metrics.levels.map((l) => `Level ${l.level}`.length));
    for (const level of metrics.levels) {
      lines.push(`  ${`Level ${level.level}`.padEnd(labelWidth)}  ${levelLine(level, openMs, c)}`);
    }
  }

  if (metrics.workers.length > 0) {
    // A Node column only when some worker ran elsewhere (Swarm, remote workers).
    const placed = metrics.workers.some((w) => w.node !== undefined);
    const table = new (Table())({
      head: ['Worker', ...(placed ? ['Node'] : []), 'Init', 'Tasks', 'Avg', 'Uptime'].map((h) => c.cyan(h)),
      style: { head: [], border: [], compact: true },
    });
    for (const w of metrics.workers) {
      const tasks =
        w.tasksFailed > 0
          ? `${w.tasksCompleted} ${c.red(`(${w.tasksFailed} failed)`)}`
          : `${w.tasksCompleted}`;
      table.push([
        w.exitedAt === null ? w.workerId : c.dim(`${w.workerId} (exited)`),
        ...(placed ? [w.node ?? '-'] : []),
        formatDuration(w.initializationMs),
        tasks,
        formatDuration(w.avgTaskMs),
        formatDuration(openMs(w.startedAt, w.exitedAt)),
      ]);
    }
    lines.push('', c.bold('Workers'), table.toString());
  }

  const totals = [
    `${done}/${total} tasks done`,
    metrics.failedTasks > 0 ? c.red(`${metrics.failedTasks} failed`) : `${metrics.failedTasks} failed`,
    `${metrics.runningTasks} running`,
    `${metrics.pendingTasks} pending`,
  ].join(', ');
  const elapsed = formatDuration(openMs(metrics.startedAt, metrics.completedAt));
  lines.push(
    '',
    `Total: ${totals} · ${count(metrics.workersUsed, 'worker')} used · ` +
      `${metrics.levelsCompleted}/${metrics.totalLevels} levels · ${elapsed} elapsed`,
  );
  return `${lines.join('\n')}\n`;
}

function levelLine(
  level: LevelMetrics,
  openMs: (start: number | null, end: number | null) => number | null,
  c: ReturnType<typeof Picocolors.createColors>,
): string {
  const failed = level.failed > 0 ? c.red(`, ${level.failed} failed`) : '';
  const duration = formatDuration(openMs(level.startedAt, level.completedAt));
  switch (level.status) {
    case 'done': {
      const stats =
        level.avgMs === null
          ? ''
          : `, avg=${formatDuration(level.avgMs)}, p95=${formatDuration(level.p95Ms)}`;
      return `${c.green('✓ DONE')} ${duration} (${count(level.taskCount, 'task')}${failed}${stats})`;
    }
    case 'cancelled':
      return `${c.yellow('✗ CANCELLED')} ${duration} (${level.completed}/${level.taskCount} tasks${failed})`;
    case 'running':
      return `${c.yellow('RUNNING')} ${duration} (${level.completed}/${level.taskCount} tasks${failed})`;
    default:
      return `${c.dim('PENDING')} (${count(level.taskCount, 'task')})`;
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
