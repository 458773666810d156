/**
 * `pnpm soak:load` (not in CI): the load profiles at the seed's real durations, then the leak run, each in
 * its own process with --expose-gc: steady 10 min, peak 5 min, spike 1 min, leak 60 min (about 76 minutes).
 * Writes bench/results/soak.json (every run's summary, heap and RSS series and leak verdict) and exits 1
 * when any verdict fails. `--only leak --minutes 2` runs a subset for a try.
 *
 *   pnpm soak:load [--only steady,peak,spike,leak] [--minutes N (overrides every duration)]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const RUNS = [
  { profile: 'steady', minutes: 10 },
  { profile: 'peak', minutes: 5 },
  { profile: 'spike', minutes: 1 },
  { profile: 'leak', minutes: 60 },
] as const;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { only: { type: 'string' }, minutes: { type: 'string' } },
});
const only = values.only?.split(',');
const tsx = createRequire(import.meta.url).resolve('tsx');
const loadtest = fileURLToPath(new URL('./loadtest.ts', import.meta.url));
const results = fileURLToPath(new URL('./results/', import.meta.url));
const runs: unknown[] = [];
let failed = 0;
for (const run of RUNS.filter((r) => !only || only.includes(r.profile))) {
  const minutes = values.minutes ?? String(run.minutes);
  process.stdout.write(`soak: ${run.profile} for ${minutes} min (load ${os.loadavg()[0]?.toFixed(2)})\n`);
  const child = spawnSync(
    process.execPath,
    [
      '--expose-gc',
      '--conditions=@ordo/source',
      '--import',
      tsx,
      loadtest,
      '--profile',
      run.profile,
      '--minutes',
      minutes,
      '--check',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (child.status !== 0) failed++;
  runs.push({
    ...JSON.parse(readFileSync(`${results}loadtest-${run.profile}.json`, 'utf8')),
    exitCode: child.status,
  });
}
mkdirSync(results, { recursive: true });
writeFileSync(
  `${results}soak.json`,
  `${JSON.stringify({ date: new Date().toISOString(), runs }, null, 2)}\n`,
);
process.stdout.write(`soak: ${runs.length - failed} of ${runs.length} runs passed the leak verdict\n`);
process.exitCode = failed > 0 ? 1 : 0;
