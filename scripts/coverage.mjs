#!/usr/bin/env node
// `pnpm test:coverage`: each package's tests under V8 coverage (@vitest/coverage-v8, the same major as
// vitest), one table of statements / branches / functions / lines per package, compared with the floors in
// coverage-thresholds.json. A package below a floor fails the run; `--update` raises each floor to today's
// figure rounded down to a whole percent (never lowers one), so coverage can only go up. `--only a,b`
// measures some packages. Not in `.ci/run`: it runs every test a second time, under coverage.
//
//   pnpm test:coverage [--only governance,contracts] [--update]
//
// Only src/ of the package under test counts (sibling packages are read from source and not counted).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const { values } = parseArgs({
  options: { only: { type: 'string' }, update: { type: 'boolean', default: false } },
});
const only = values.only?.split(',');
const floorsFile = path.join(root, 'coverage-thresholds.json');
const floors = existsSync(floorsFile) ? JSON.parse(readFileSync(floorsFile, 'utf8')) : {};
const METRICS = ['statements', 'branches', 'functions', 'lines'];
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');

const packages = readdirSync(path.join(root, 'packages'))
  .filter((name) => existsSync(path.join(root, 'packages', name, 'vitest.config.ts')))
  .filter((name) => !only || only.includes(name))
  .sort();

const rows = [];
let failed = false;
for (const name of packages) {
  const dir = path.join(root, 'packages', name);
  const out = path.join(dir, 'node_modules', '.coverage');
  rmSync(out, { recursive: true, force: true });
  process.stdout.write(`coverage: ${name}\n`);
  const run = spawnSync(
    process.execPath,
    [
      vitest,
      'run',
      '--reporter=dot',
      '--coverage.enabled',
      '--coverage.provider=v8',
      '--coverage.include=src/**',
      '--coverage.reporter=json-summary',
      `--coverage.reportsDirectory=${out}`,
    ],
    { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const summaryFile = path.join(out, 'coverage-summary.json');
  if (!existsSync(summaryFile)) {
    rows.push({ name, figures: undefined, note: `no coverage (vitest exit ${run.status})` });
    failed = true;
    continue;
  }
  const total = JSON.parse(readFileSync(summaryFile, 'utf8')).total;
  const figures = Object.fromEntries(METRICS.map((m) => [m, total[m].pct]));
  const floor = floors[name];
  const below = floor ? METRICS.filter((m) => figures[m] < floor[m]) : [];
  let note = floor ? (below.length ? `below the floor: ${below.join(', ')}` : 'ok') : 'no floor yet';
  if (run.status !== 0) note += `; tests failed (exit ${run.status})`;
  if (below.length > 0 || run.status !== 0) failed = true;
  if (values.update) {
    floors[name] = Object.fromEntries(
      // Today's figure rounded down to a whole percent, so a timing-dependent branch does not flake the run.
      METRICS.map((m) => [m, Math.max(floor?.[m] ?? 0, Math.floor(figures[m]))]),
    );
  }
  rows.push({ name, figures, note });
}

const pad = (text, width) => String(text).padEnd(width);
process.stdout.write(`\n${pad('package', 18)}${METRICS.map((m) => pad(m, 12)).join('')}note\n`);
for (const { name, figures, note } of rows) {
  const cells = METRICS.map((m) => pad(figures ? `${figures[m].toFixed(2)}%` : '-', 12)).join('');
  process.stdout.write(`${pad(name, 18)}${cells}${note}\n`);
}
if (values.update) {
  writeFileSync(floorsFile, `${JSON.stringify(floors, null, 2)}\n`);
  process.stdout.write(`\ncoverage: floors written to ${path.relative(root, floorsFile)}\n`);
}
process.exitCode = failed ? 1 : 0;
