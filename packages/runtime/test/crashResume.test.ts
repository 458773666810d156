import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { KILL_STEPS } from '../src/internal/testKillPoint.js';
import {
  type EndState,
  killAndResume,
  newMarker,
  planWorkspace,
  referenceRun,
  runOrdo,
  SIX_TASKS,
  waitForNoProcesses,
} from './support/crashTrial.js';

// The crash guarantee of the README ("kill -9 at any moment"), on the real CLI: `ordo run` as a child
// process (node + tsx), SIGKILLed at every named commit step (the test-only ORDO_TEST_KILL_AT hook) and at
// random moments, then `ordo run --resume` until it exits 0. Each trial must end with the bytes (a tree
// hash of the workspace) and the trace digest of an uninterrupted run, no `.ordo-spool` left, and no live
// process of the killed host (its workers exit on their own once their parent is gone). Each start goes
// through tsx, slow on a loaded machine: hence the long timeouts. The long random run is `pnpm soak`.

/**
 * Kill points chained through one trial each: the first run dies at the first, each resume at the next,
 * the last resume finishes. Together they name every step of KILL_STEPS; the counts (n-th time the step
 * is reached) land inside a commit of the first level, the middle and the last.
 */
const CHAINS: readonly (readonly string[])[] = [
  ['staged:2', 'prepared:1', 'replace:2', 'intent:2', 'settled:1'],
  ['commit-record:2', 'replaced:3', 'spool-committed:1', 'finished:1'],
];

let reference: EndState & { ms: number };

const expectSameEnd = (state: EndState) =>
  expect(state).toEqual({
    tree: reference.tree,
    traceDigest: reference.traceDigest,
    spoolLeft: false,
    processesLeft: [],
  });

describe('kill -9 at any moment, then --resume', { timeout: 240_000 }, () => {
  beforeAll(async () => {
    reference = await referenceRun(SIX_TASKS, 1);
    expect(reference.spoolLeft).toBe(false);
  }, 120_000);

  it('the chains name every kill step', () => {
    const named = new Set(CHAINS.flat().map((k) => k.split(':')[0]));
    expect([...named].sort()).toEqual([...KILL_STEPS].sort());
  });

  it.each(
    CHAINS.map((chain) => [chain.join(' → '), chain] as const),
  )('killed at %s: the same bytes and digest as an uninterrupted run', async (_name, chain) => {
    await using ws = await planWorkspace(SIX_TASKS);
    const [first, ...then] = chain.map((killAt) => ({ killAt }));
    const { state, runs } = await killAndResume(ws.dir, 1, first ?? {}, then);
    // Every kill point was reached (the run died there), and the last resume finished.
    expect(runs.map((r) => r.signal ?? r.code)).toEqual([...chain.map(() => 'SIGKILL'), 0]);
    expectSameEnd(state);
  });

  it('killed at a random moment on 2 workers: the same bytes and digest', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: Math.max(1, reference.ms) }), async (killAfterMs) => {
        await using ws = await planWorkspace(SIX_TASKS);
        const { state, runs } = await killAndResume(ws.dir, 2, { killAfterMs });
        expect(runs.at(-1)?.code).toBe(0);
        expectSameEnd(state);
      }),
      { numRuns: 1 },
    );
  });

  it('leaves no worker behind; refuses to resume over a committed file changed after the crash, and resumes once it is restored', async () => {
    await using ws = await planWorkspace(SIX_TASKS);
    const marker = newMarker();
    // Both first-level tasks have committed (every later task waits for them): kill right after the second.
    const killed = await runOrdo(ws.dir, {
      workers: 1,
      marker,
      killAt: 'commit-record:2',
      watchProcesses: true,
    });
    expect(killed.signal).toBe('SIGKILL');
    // Its worker ran (the run had more processes than itself), and exits on its own once the host is gone.
    expect(killed.peakProcesses).toBeGreaterThanOrEqual(2);
    expect(await waitForNoProcesses(marker)).toEqual([]);
    const file = join(ws.dir, 'out', 'l0t2.txt');
    const committed = await readFile(file);
    await appendFile(file, 'tampered\n');

    const refused = await runOrdo(ws.dir, { workers: 1, marker, resume: true });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error RESUME_WORKSPACE_CHANGED: .*out\/l0t2\.txt/m);
    expect(refused.stderr).toMatch(/^hint: /m);

    await writeFile(file, committed);
    const resumed = await runOrdo(ws.dir, { workers: 1, marker, resume: true });
    expect(resumed.code).toBe(0);
    expect(resumed.traceDigest).toBe(reference.traceDigest);
  });
});
