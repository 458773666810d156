import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { createShellPool } from '../src/index.js';
import { interleave, loadAverage, type Measurement, round, writeResults } from './util.js';

const COMMANDS = Number(process.env.SHELL_BENCH_COMMANDS ?? 1_000);
const ROUNDS = Number(process.env.SHELL_BENCH_ROUNDS ?? 5);

function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', { stdio: 'pipe' });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}

function spread(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const median =
    sorted.length % 2 === 1
      ? (sorted[(sorted.length - 1) / 2] as number)
      : ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
  return { min: round(sorted[0] ?? 0), median: round(median), max: round(sorted.at(-1) ?? 0) };
}

const load = () => loadAverage() as [number, number, number];

/**
 * 1,000 `true` commands, one after another, in several rounds: a pool of one shell with every check on
 * (an allowlist, so each command goes through the policy), the same pool without an allowlist, execa
 * and `child_process.spawn` per command. Inside a round the variants alternate in blocks of 50; the
 * rounds alternate which variant goes first. Reports the load average and min / median / max over rounds.
 */
export async function benchShell(): Promise<void> {
  console.log(
    `\n# shell: ${COMMANDS} sequential \`true\` commands × ${ROUNDS} rounds (alternated in blocks of 50)`,
  );
  const loadBefore = load();
  console.log(`load average before: ${loadBefore.join(' ')}`);
  await using checked = createShellPool({ size: 1, allow: ['true'] });
  await using plain = createShellPool({ size: 1 });
  const variants = [
    { name: 'ordo shell pool (size 1, allowlist on)', op: () => checked.run('true') },
    { name: 'ordo shell pool (size 1, no allowlist)', op: () => plain.run('true') },
    { name: 'execa per command', op: () => execa('true') },
    { name: 'child_process.spawn per command', op: spawnTrue },
  ];
  const rounds: Measurement[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order so no variant always runs first in a block.
    const order = variants.map((_, i) => variants[(i + r) % variants.length] as (typeof variants)[number]);
    const measured = await interleave(order, COMMANDS, 50);
    rounds.push(variants.map((v) => measured.find((m) => m.name === v.name) as Measurement));
  }
  const loadAfter = load();
  const ratio = (num: number, den: number, key: 'totalMs' | 'p50Us') =>
    spread(rounds.map((r) => (r[num]?.[key] as number) / (r[den]?.[key] as number)));
  const ratios = {
    'execa / ordo with allowlist (total time)': ratio(2, 0, 'totalMs'),
    'execa / ordo with allowlist (p50)': ratio(2, 0, 'p50Us'),
    'execa / ordo without allowlist (total time)': ratio(2, 1, 'totalMs'),
    'spawn / ordo with allowlist (total time)': ratio(3, 0, 'totalMs'),
    'allowlist cost: with / without (total time)': ratio(0, 1, 'totalMs'),
  };
  const perVariant = variants.map((v, i) => ({
    name: v.name,
    totalMs: spread(rounds.map((r) => r[i]?.totalMs as number)),
    p50Us: spread(rounds.map((r) => r[i]?.p50Us as number)),
    p99Us: spread(rounds.map((r) => r[i]?.p99Us as number)),
  }));
  console.table(
    perVariant.map((v) => ({
      name: v.name,
      'total ms (median)': v.totalMs.median,
      'p50 µs (median)': v.p50Us.median,
      'p99 µs (median)': v.p99Us.median,
    })),
  );
  console.table(ratios);
  const headline = ratios['execa / ordo with allowlist (total time)'];
  const met = headline.median >= 5;
  console.log(
    `load average after: ${loadAfter.join(' ')}; target execa / ordo (allowlist on) >= 5 at load < 1 → median ${headline.median} (${met ? 'met' : 'missed'})${loadBefore[0] >= 1 || loadAfter[0] >= 1 ? ', but the load was >= 1: rerun on a quiet machine' : ''}`,
  );
  await writeResults('shell', {
    commands: COMMANDS,
    rounds: ROUNDS,
    loadAverage: { before: loadBefore, after: loadAfter },
    results: perVariant,
    ratios,
    target: {
      'execa / ordo with allowlist (total time), median over rounds': '>= 5 at load average < 1',
      met,
      quiet: loadBefore[0] < 1 && loadAfter[0] < 1,
    },
  });
}
