import { WorkerStatus } from '@ordo/contracts';
import { killProcesses, processAlive } from '@ordo/contracts/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SubprocessLauncher } from '../src/index.js';
import { nextStatus } from './helpers.js';

const strays: number[] = [];
afterEach(() => {
  killProcesses(strays.splice(0));
});

/** Starts a worker that spawns a `sleep` grandchild (reported on stdout), then runs `rest`. */
async function withGrandchild(launcher: SubprocessLauncher, workerId: string, rest: string) {
  const handle = await launcher.spawn(workerId, { args: ['-c', `sleep 1000 & echo $!; ${rest}`] });
  const lines = handle.io.lines()[Symbol.asyncIterator]();
  const pid = Number((await lines.next()).value);
  strays.push(pid);
  expect(processAlive(pid)).toBe(true);
  return { handle, pid };
}

describe('SubprocessLauncher: a worker runs in its own process group, and its end ends the group', () => {
  it('terminate() ends the worker and the processes it started', async () => {
    await using launcher = new SubprocessLauncher({ command: 'bash' });
    const { pid } = await withGrandchild(launcher, 'w1', 'wait');
    await launcher.terminate('w1', { graceMs: 1_000 });
    await vi.waitFor(() => expect(processAlive(pid)).toBe(false), { timeout: 10_000, interval: 20 });
  });

  it('a worker that crashes takes what it started with it', async () => {
    await using launcher = new SubprocessLauncher({ command: 'bash' });
    const crashed = nextStatus(launcher, 'w1', WorkerStatus.CRASHED);
    const { pid } = await withGrandchild(launcher, 'w1', 'exec 1>&- 2>&-; exit 3');
    await crashed;
    await vi.waitFor(() => expect(processAlive(pid)).toBe(false), { timeout: 10_000, interval: 20 });
  });

  it('close() ends every worker and its processes', async () => {
    const launcher = new SubprocessLauncher({ command: 'bash' });
    const a = await withGrandchild(launcher, 'a', 'wait');
    const b = await withGrandchild(launcher, 'b', 'trap "" TERM; wait');
    await launcher.close();
    await vi.waitFor(() => expect([a.pid, b.pid].filter(processAlive)).toEqual([]), {
      timeout: 10_000,
      interval: 20,
    });
  });
});
