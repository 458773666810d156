import { stripVTControlCharacters } from 'node:util';
import { ManualClock } from '@ordo/contracts/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type LauncherState, MetricsCollector, renderStatus } from '../src/index.js';
import { at, doneTask, level, midRunState, state, T0, worker } from './fixtures/states.js';

const metricsOf = (s: LauncherState, nowSeconds = 300) =>
  new MetricsCollector(
    { revision: 1, state: s },
    { clock: new ManualClock(T0 + nowSeconds * 1_000) },
  ).featureMetrics();

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('renderStatus', () => {
  it('renders a feature in the middle of its run', () => {
    expect(renderStatus(metricsOf(midRunState()))).toMatchInlineSnapshot(`
      "Feature: checkout
      [███████████████████████████████████░░░░░░░░░░░░░░░]  70% (7/10 tasks)

      Levels
        Level 0  ✓ DONE 2m15s (4 tasks, avg=34s, p95=58s)
        Level 1  RUNNING 1m30s (3/5 tasks, 1 failed)
        Level 2  PENDING (1 task)

      Workers
      ┌─────────────┬──────┬──────────────┬─────┬────────┐
      │ Worker      │ Init │ Tasks        │ Avg │ Uptime │
      ├─────────────┼──────┼──────────────┼─────┼────────┤
      │ w1          │ 1.2s │ 4            │ 34s │ 5m00s  │
      │ w2          │ 2.5s │ 3 (1 failed) │ 30s │ 5m00s  │
      │ w3 (exited) │ -    │ 0            │ -   │ 1m00s  │
      └─────────────┴──────┴──────────────┴─────┴────────┘

      Total: 7/10 tasks done, 1 failed, 1 running, 1 pending · 2 workers used · 1/3 levels · 5m00s elapsed
      "
    `);
  });

  it('renders a finished feature', () => {
    const finished = state({
      feature: { name: 'search-index', startedAt: at(0), completedAt: at(3_720) },
      workers: [
        worker('worker-1', {
          startedAt: at(0),
          readyAt: at(0.95),
          lastTaskCompletedAt: at(3_700),
          exitedAt: at(3_720),
          exitCode: 0,
          tasksCompleted: 2,
          taskMs: 2_450,
        }),
      ],
      tasks: [doneTask('a', 0, 'worker-1', 1.2), doneTask('b', 0, 'worker-1', 1.25)],
      levels: [level(0, { startedAt: at(0), completedAt: at(3_720) })],
    });
    expect(renderStatus(metricsOf(finished, 4_000))).toMatchInlineSnapshot(`
      "Feature: search-index
      [██████████████████████████████████████████████████] 100% (2/2 tasks)

      Levels
        Level 0  ✓ DONE 1h02m (2 tasks, avg=1.2s, p95=1.2s)

      Workers
      ┌───────────────────┬───────┬───────┬──────┬────────┐
      │ Worker            │ Init  │ Tasks │ Avg  │ Uptime │
      ├───────────────────┼───────┼───────┼──────┼────────┤
      │ worker-1 (exited) │ 950ms │ 2     │ 1.2s │ 1h02m  │
      └───────────────────┴───────┴───────┴──────┴────────┘

      Total: 2/2 tasks done, 0 failed, 0 running, 0 pending · 1 worker used · 1/1 levels · 1h02m elapsed
      "
    `);
  });

  it('renders an empty feature', () => {
    expect(renderStatus(metricsOf(state()))).toMatchInlineSnapshot(`
      "Feature: checkout
      [░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░]   0% (0/0 tasks)

      Total: 0/0 tasks done, 0 failed, 0 running, 0 pending · 0 workers used · 0/0 levels · - elapsed
      "
    `);
  });

  it('measures open durations to `now` when given, and leaves finished ones alone', () => {
    const metrics = metricsOf(midRunState());
    const later = renderStatus(metrics, { now: new Date(T0 + 330_000) });
    expect(later).toMatch(/Level 1 {2}RUNNING 2m00s \(3\/5 tasks, 1 failed\)/);
    expect(later).toMatch(/Level 0 {2}✓ DONE 2m15s/);
    expect(later).toMatch(/│ w1 +│ 1\.2s +│ 4 +│ 34s +│ 5m30s +│/);
    expect(later).toMatch(/│ w3 \(exited\) +│ - +│ 0 +│ - +│ 1m00s +│/);
    expect(later).toMatch(/5m30s elapsed/);
  });

  it('fits the progress bar to the width, between 10 and 50 cells', () => {
    const bar = (width: number) =>
      /\[([█░]+)\]/.exec(renderStatus(metricsOf(midRunState()), { width }))?.[1] ?? '';
    expect(bar(80)).toBe(`${'█'.repeat(35)}${'░'.repeat(15)}`);
    expect(bar(20)).toHaveLength(10);
    expect(bar(200)).toHaveLength(50);
    expect(bar(60)).toHaveLength(60 - '  70% (7/10 tasks)'.length - 2);
    expect(bar(20)).toBe(`${'█'.repeat(7)}${'░'.repeat(3)}`);
  });

  it('colors only when asked, and never when NO_COLOR is set', () => {
    const metrics = metricsOf(midRunState());
    vi.stubEnv('NO_COLOR', '');
    const colored = renderStatus(metrics, { color: true });
    expect(colored).toContain('\u001b[');
    expect(stripVTControlCharacters(colored)).toBe(renderStatus(metrics));
    expect(renderStatus(metrics)).not.toContain('\u001b[');
    expect(renderStatus(metrics, { color: false })).not.toContain('\u001b[');
    vi.stubEnv('NO_COLOR', '1');
    expect(renderStatus(metrics, { color: true })).not.toContain('\u001b[');
  });
});
