import { readFileSync } from 'node:fs';
import { TaskPriority } from '@ordo/contracts';
import { expect, it } from 'vitest';
import { WorkerPool } from '../src/index.js';
import { fixture, fixtureWorkerEntry } from './helpers/entries.js';

it("runs the README's worker pool snippet as written", async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const worker = readFileSync(fixture('readmeWorker.mjs'), 'utf8');
  // The fixture is the README's worker block (after its first comment line), so the two cannot drift.
  const body = worker.slice(worker.indexOf('\n') + 1);
  expect(readme).toContain(`// worker.mjs: the child side\n${body}`);

  const progress: number[] = [];
  await using pool = new WorkerPool({
    entry: await fixtureWorkerEntry('readmeWorker.mjs'),
    maxWorkers: 2,
    heapMB: 256,
  });
  const result = await pool.run(
    { text: 'hello' },
    {
      priority: TaskPriority.HIGH,
      signal: AbortSignal.timeout(10_000),
      onProgress: (p) => progress.push(p.percent),
    },
  );
  expect(result).toEqual({ length: 5 });
  expect(progress).toEqual([50]);
});
