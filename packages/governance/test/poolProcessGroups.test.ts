import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killProcesses, processAlive } from '@ordo/contracts/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WorkerPool } from '../src/index.js';
import type { FixtureTask } from './fixtures/worker.js';
import { fixtureWorkerEntry } from './helpers/entries.js';

let dir: string;
let entry: string;
const strays: number[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ordo-pool-groups-'));
  entry = await fixtureWorkerEntry();
});
afterEach(() => {
  killProcesses(strays.splice(0));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sleeperPid(pidFile: string): Promise<number> {
  let pid = 0;
  await vi.waitFor(
    () => {
      pid = Number(readFileSync(pidFile, 'utf8'));
      expect(pid).toBeGreaterThan(0);
    },
    { timeout: 20_000, interval: 20 },
  );
  strays.push(pid);
  return pid;
}

describe('WorkerPool: a worker runs in its own process group, and its end ends the group', () => {
  it.each([
    'ignoreCancel',
    'crash',
    'return',
  ] as const)('no `sleep` a task spawned survives (%s: a killed timeout, a crash, a close)', async (then) => {
    const pidFile = join(dir, `${then}.pid`);
    const pool = new WorkerPool<FixtureTask>({
      entry,
      maxWorkers: 1,
      taskTimeoutMs: then === 'ignoreCancel' ? 500 : 60_000,
      cancelGraceMs: 100,
    });
    const run = pool.run({ op: 'spawnSleep', pidFile, then });
    run.catch(() => {});
    const pid = await sleeperPid(pidFile);
    if (then === 'return') {
      await run;
      expect(processAlive(pid)).toBe(true); // a live worker keeps its children
    } else {
      await expect(run).rejects.toMatchObject({
        code: then === 'crash' ? 'WORKER_CRASHED' : 'TASK_TIMEOUT',
      });
    }
    await pool.close();
    await vi.waitFor(() => expect(processAlive(pid)).toBe(false), { timeout: 10_000, interval: 20 });
  }, 60_000);

  it('a worker still exits when its parent dies (stdin closes), although it no longer shares its group', async () => {
    const script = `
      import { WorkerPool } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)};
      const pool = new WorkerPool({ entry: ${JSON.stringify(entry)}, maxWorkers: 1 });
      pool.on('workerSpawned', ({ pid }) => process.stdout.write(String(pid) + '\\n')); // plain digits: console.log colours numbers under FORCE_COLOR
      await pool.run({ op: 'echo', value: 1 });
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@ordo/source', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let output = '';
    parent.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    let worker = 0;
    await vi.waitFor(
      () => {
        worker = Number(output.trim().split('\n')[0]);
        expect(worker).toBeGreaterThan(0);
      },
      { timeout: 30_000, interval: 50 },
    );
    strays.push(worker);
    expect(processAlive(worker)).toBe(true);
    parent.kill('SIGKILL');
    await vi.waitFor(() => expect(processAlive(worker)).toBe(false), { timeout: 10_000, interval: 20 });
  }, 60_000);
});
