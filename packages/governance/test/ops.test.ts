import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../src/index.js';

const PACKAGE = join(import.meta.dirname, '..');
const RULES = join(PACKAGE, 'ops/prometheus/alerts.yml');
const DASHBOARD = join(PACKAGE, 'ops/grafana/dashboard.json');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; runbook_url: string };
}
interface Panel {
  title: string;
  targets: { expr: string }[];
}

const rules: Rule[] = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  panels: Panel[];
  templating: { list: { query?: string }[] };
};
const dashboardExprs = [
  ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
  ...dashboard.templating.list.flatMap((v) => (v.query ? [v.query] : [])),
];
const registered = new Set(createMetrics().names);

/** The ordo metric names a PromQL expression mentions. */
const metricNames = (expr: string) => expr.match(/\bordo_[a-z0-9_]+\b/g) ?? [];

describe('ops/ alert rules and dashboard', () => {
  it('name only metrics the registry has', () => {
    const used = [...rules.map((r) => r.expr), ...dashboardExprs].flatMap(metricNames);
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !registered.has(name))).toEqual([]);
  });

  it('the test above catches a metric the registry lacks', () => {
    expect(metricNames('rate(ordo_tasks_evaporated_total[5m])').filter((n) => !registered.has(n))).toEqual([
      'ordo_tasks_evaporated_total',
    ]);
  });

  it('alert at 70 % for 5 m, 85 % for 2 m, 95 % at once, and on a worker OOM', () => {
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(byName.OrdoMemoryWarning).toMatchObject({ for: '5m', labels: { severity: 'warning' } });
    expect(byName.OrdoMemoryWarning?.expr).toMatch(/ordo_memory_usage_ratio\) > 0\.70$/);
    expect(byName.OrdoMemoryCritical).toMatchObject({ for: '2m', labels: { severity: 'critical' } });
    expect(byName.OrdoMemoryCritical?.expr).toMatch(/ordo_memory_usage_ratio\) > 0\.85$/);
    expect(byName.OrdoMemoryEmergency?.for).toBeUndefined();
    expect(byName.OrdoMemoryEmergency?.expr).toMatch(/ordo_memory_usage_ratio\) > 0\.95$/);
    expect(byName.OrdoWorkerOOM?.expr).toContain('ordo_worker_oom_kills_total');
  });

  it('link every alert to a runbook that exists and names it', () => {
    for (const rule of rules) {
      const runbook = join(PACKAGE, rule.annotations.runbook_url);
      expect(existsSync(runbook), `${rule.alert} -> ${rule.annotations.runbook_url}`).toBe(true);
      expect(readFileSync(runbook, 'utf8')).toContain(rule.alert);
    }
  });

  it('chart every metric the registry has', () => {
    const charted = new Set(dashboardExprs.flatMap(metricNames));
    expect([...registered].filter((name) => !charted.has(name))).toEqual([]);
  });

  const promtool = spawnSync('promtool', ['--version']).status === 0;
  it.skipIf(!promtool)('pass promtool check rules (when promtool is installed)', () => {
    expect(execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' })).toMatch(/SUCCESS/);
  });
});
