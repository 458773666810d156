import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../src/index.js';

const PACKAGE = join(import.meta.dirname, '..');
const RULES = join(PACKAGE, 'ops/prometheus/alerts.yml');
const DASHBOARD = join(PACKAGE, 'ops/grafana/dashboard.json');
const ALERTMANAGER = join(PACKAGE, 'ops/alertmanager/alertmanager.yml');
/** CI installs promtool and amtool (Debian's prometheus and prometheus-alertmanager): there they must run. */
const REQUIRE_TOOLS = process.env.CI === 'true';
const has = (tool: string) => spawnSync(tool, ['--version']).status === 0;

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

  it('the troubleshooting guide names only registered metrics and runbooks that exist', () => {
    const guide = readFileSync(join(PACKAGE, 'docs/troubleshooting.md'), 'utf8');
    const named = metricNames(guide);
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((name) => !registered.has(name))).toEqual([]);
    const links = [...guide.matchAll(/\]\((runbooks\/[a-z-]+\.md)\)/g)].map((m) => m[1] as string);
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) expect(existsSync(join(PACKAGE, 'docs', link)), link).toBe(true);
  });

  it('chart every metric the registry has', () => {
    const charted = new Set(dashboardExprs.flatMap(metricNames));
    expect([...registered].filter((name) => !charted.has(name))).toEqual([]);
  });

  it.skipIf(!has('promtool') && !REQUIRE_TOOLS)('pass promtool check rules (always in CI)', () => {
    expect(execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' })).toMatch(/SUCCESS/);
  });
});

describe('ops/alertmanager routing', () => {
  const routeOf = (labels: Record<string, string>) =>
    execFileSync(
      'amtool',
      [
        'config',
        'routes',
        'test',
        `--config.file=${ALERTMANAGER}`,
        ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    ).trim();
  const skip = !has('amtool') && !REQUIRE_TOOLS;

  it.skipIf(skip)('passes amtool check-config (always in CI)', () => {
    expect(execFileSync('amtool', ['check-config', ALERTMANAGER], { encoding: 'utf8' })).toMatch(/SUCCESS/);
  });

  it.skipIf(skip)(
    'pages for emergency and critical alerts and sends warnings to chat, for every ordo alert',
    () => {
      const receiverFor: Record<string, string> = {
        emergency: 'ordo-page-now',
        critical: 'ordo-page',
        warning: 'ordo-chat',
      };
      const severities = new Set(rules.map((rule) => rule.labels.severity));
      expect([...severities].filter((severity) => !(severity in receiverFor))).toEqual([]);
      for (const rule of rules) {
        expect(
          routeOf({ alertname: rule.alert, severity: rule.labels.severity, instance: 'host:9464' }),
          rule.alert,
        ).toBe(receiverFor[rule.labels.severity]);
      }
    },
  );

  it('routes each severity by an explicit matcher and inhibits lower severities of the same instance', () => {
    const config = parse(readFileSync(ALERTMANAGER, 'utf8')) as {
      route: { routes: { receiver: string; matchers: string[] }[] };
      inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
      receivers: {
        name: string;
        pagerduty_configs?: { routing_key?: string; routing_key_file?: string }[];
      }[];
    };
    for (const severity of new Set(rules.map((rule) => rule.labels.severity))) {
      expect(
        config.route.routes.some((r) => r.matchers.includes(`severity="${severity}"`)),
        severity,
      ).toBe(true);
    }
    expect(config.inhibit_rules.every((rule) => rule.equal.includes('instance'))).toBe(true);
    // Keys come from files, never from the config itself.
    const pagers = config.receivers.flatMap((r) => r.pagerduty_configs ?? []);
    expect(pagers.length).toBeGreaterThan(0);
    for (const pager of pagers) {
      expect(pager.routing_key).toBeUndefined();
      expect(pager.routing_key_file).toMatch(/^\/etc\/alertmanager\/secrets\//);
    }
  });
});
