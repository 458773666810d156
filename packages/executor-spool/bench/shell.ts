import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { createShellPool } from '../src/index.js';
import { interleave, round, writeResults } from './util.js';

const COMMANDS = 1_000;

function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', { stdio: 'pipe' });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}

/** 1,000 `true` commands, one after another: a pool of one shell vs a process per command. */
export async function benchShell(): Promise<void> {
  console.log(`\n# shell: ${COMMANDS} sequential \`true\` commands (interleaved in blocks of 50)`);
  await using pool = createShellPool({ size: 1 });
  const [ordo, execaRun, spawnRun] = await interleave(
    [
      { name: 'ordo shell pool (size 1)', op: () => pool.run('true') },
      { name: 'execa per command', op: () => execa('true') },
      { name: 'child_process.spawn per command', op: spawnTrue },
    ],
    COMMANDS,
    50,
  );
  if (!ordo || !execaRun || !spawnRun) throw new Error('missing results');
  const ratios = {
    'execa / ordo (total time)': round(execaRun.totalMs / ordo.totalMs),
    'spawn / ordo (total time)': round(spawnRun.totalMs / ordo.totalMs),
    'execa / ordo (p50)': round(execaRun.p50Us / ordo.p50Us),
  };
  console.table([ordo, execaRun, spawnRun]);
  const met = ratios['execa / ordo (total time)'] >= 5;
  console.log(ratios, `target: execa / ordo >= 5 → ${met ? 'met' : 'missed'}`);
  await writeResults('shell', {
    commands: COMMANDS,
    results: [ordo, execaRun, spawnRun],
    ratios,
    target: { 'execa / ordo (total time)': '>= 5', met },
  });
}
