import { describe, expect, it } from 'vitest';
import { formatEvent, formatSummary } from '../src/cli/progressLines.js';
import type { FeatureEvent, FeatureResult } from '../src/types.js';

describe('formatEvent: one plain line per event', () => {
  it.each<[FeatureEvent, string]>([
    [
      {
        type: 'feature-start',
        feature: 'checkout',
        runId: 'r1',
        levels: 3,
        tasks: 9,
        resumed: 0,
        recovered: 0,
      },
      'feature checkout: 9 tasks in 3 levels (run r1)',
    ],
    [
      {
        type: 'feature-start',
        feature: 'checkout',
        runId: 'r2',
        levels: 1,
        tasks: 1,
        resumed: 4,
        recovered: 0,
      },
      'feature checkout: 1 task in 1 level (run r2, resuming: 4 already committed)',
    ],
    [
      {
        type: 'feature-start',
        feature: 'checkout',
        runId: 'r3',
        levels: 1,
        tasks: 2,
        resumed: 1,
        recovered: 1,
      },
      'feature checkout: 2 tasks in 1 level (run r3, resuming: 1 already committed, rolled back 1 interrupted commit)',
    ],
    [{ type: 'level-start', level: 0, tasks: ['a', 'b'] }, 'level 0: started 2 tasks (a, b)'],
    [{ type: 'task-start', level: 0, taskId: 'a', workerId: 'w1' }, '  task a: started on w1'],
    [
      { type: 'task-committed', level: 0, taskId: 'a', files: ['x.ts'], durationMs: 1234 },
      '  task a: committed 1 file in 1.2s',
    ],
    [
      { type: 'task-failed', level: 1, taskId: 'b', code: 'TASK_EXIT', message: 'exit 3' },
      '  task b: FAILED TASK_EXIT: exit 3',
    ],
    [
      {
        type: 'task-failed',
        level: 0,
        taskId: 'a',
        code: 'SPOOL_VALIDATION_FAILED',
        message: 'Blocked by 1 issue(s):\n  b.txt: outside the declared files',
      },
      '  task a: FAILED SPOOL_VALIDATION_FAILED: Blocked by 1 issue(s): b.txt: outside the declared files',
    ],
    [
      { type: 'task-skipped', level: 2, taskId: 'c', reason: 'dependency-failed' },
      '  task c: skipped (a dependency failed)',
    ],
    [
      { type: 'task-skipped', level: 0, taskId: 'a', reason: 'committed-before-resume' },
      '  task a: skipped (committed before the resume)',
    ],
    [{ type: 'level-end', level: 1, status: 'failed' }, 'level 1: failed'],
    [
      { type: 'feature-end', feature: 'checkout', status: 'succeeded', traceDigest: '0123456789abcdef0123' },
      'feature checkout: succeeded (trace 0123456789ab)',
    ],
  ])('%j', (event, line) => {
    expect(formatEvent(event)).toBe(line);
    expect(formatEvent(event)).not.toContain('\u001b');
    expect(formatEvent(event)).not.toContain('\n');
  });
});

describe('formatSummary', () => {
  const base = { feature: 'checkout', runId: 'r1', traceDigest: 'feedfacecafebeef00', diff: '', metrics: {} };

  it('counts the committed tasks and lists the changed files once each, sorted', () => {
    const result = {
      ...base,
      status: 'succeeded',
      tasks: [
        { id: 'a', level: 0, status: 'committed', files: ['src/b.ts', 'src/a.ts'], durationMs: 5 },
        { id: 'b', level: 1, status: 'committed', files: ['src/a.ts'], durationMs: 5 },
      ],
    } as unknown as FeatureResult;
    expect(formatSummary(result)).toBe(
      '✓ checkout succeeded: 2/2 tasks committed, 2 files changed (trace feedfacecafe)\n' +
        'changed files:\n  src/a.ts\n  src/b.ts\n',
    );
  });

  it('counts the tasks a resumed run skipped as committed before the resume', () => {
    const result = {
      ...base,
      status: 'succeeded',
      tasks: [
        { id: 'a', level: 0, status: 'skipped', files: ['a.txt'], durationMs: 0 },
        { id: 'b', level: 1, status: 'committed', files: ['b.txt'], durationMs: 5 },
      ],
    } as unknown as FeatureResult;
    expect(formatSummary(result, new Set(['a']))).toBe(
      '✓ checkout succeeded: 2/2 tasks committed (1 before the resume), 2 files changed (trace feedfacecafe)\n' +
        'changed files:\n  a.txt\n  b.txt\n',
    );
  });

  it('lists failed tasks with their code and the skipped ones', () => {
    const result = {
      ...base,
      status: 'failed',
      tasks: [
        {
          id: 'a',
          level: 0,
          status: 'failed',
          files: [],
          error: { code: 'SPOOL_CONFLICT', message: 'x.ts changed' },
          durationMs: 1,
        },
        { id: 'b', level: 1, status: 'skipped', files: [], durationMs: 0 },
      ],
    } as unknown as FeatureResult;
    expect(formatSummary(result)).toBe(
      '✗ checkout failed: 0/2 tasks committed, 0 files changed (trace feedfacecafe)\n' +
        '  ✗ a: SPOOL_CONFLICT: x.ts changed\n  - b: skipped\n',
    );
  });
});

describe('TASK_FAILED on one line', () => {
  it('keeps the hint and the quoted stderr tail apart', async () => {
    const { exitError } = await import('../src/internal/taskErrors.js');
    const error = exitError({ id: 'b' } as Parameters<typeof exitError>[0], {
      exitCode: 1,
      signal: null,
      stderrTail: 'something broke\nat line 2\n',
    });
    const line = formatEvent({
      type: 'task-failed',
      level: 0,
      taskId: 'b',
      code: error.code,
      message: error.message,
    });
    expect(line).toBe(
      '  task b: FAILED TASK_FAILED: Task b: its command exited with code 1. Fix the command (run it in a copy of its files to reproduce) and resume the feature. Last stderr: "something broke\\nat line 2"',
    );
    expect(error.details).toMatchObject({ stderrTail: 'something broke\nat line 2\n' });
  });

  it('has no stderr part when the command printed nothing to stderr', async () => {
    const { exitError } = await import('../src/internal/taskErrors.js');
    const error = exitError({ id: 'c' } as Parameters<typeof exitError>[0], {
      exitCode: null,
      signal: 'SIGKILL',
      stderrTail: '',
    });
    expect(error.message).toBe(
      'Task c: its command was killed by SIGKILL. Fix the command (run it in a copy of its files to reproduce) and resume the feature.',
    );
  });
});
