import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killProcesses, ManualClock, processAlive } from '@ordo/contracts/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createShellPool } from '../src/index.js';

/** Every live process whose environment holds `ORDO_SHELL_SLOT=<pool>.` (what that pool's slots started). */
function slotProcesses(pool: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(`ORDO_SHELL_SLOT=${pool}.`)) {
        found.push(Number(entry));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

function groupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

const strays: number[] = [];
afterEach(() => {
  killProcesses(strays.splice(0));
});

function pids(stdout: string): number[] {
  return stdout.trim().split(/\s+/).map(Number);
}

/** The pool part of the slot marker a pool's shells carry. */
async function poolMarker(pool: ReturnType<typeof createShellPool>): Promise<string> {
  const { stdout } = await pool.run('echo "$ORDO_SHELL_SLOT"');
  return stdout.trim().split('.')[0] as string;
}

describe('createShellPool: close() ends every descendant and resolves', () => {
  it('a `set -m` background job, in a process group of its own, does not survive close()', async () => {
    const pool = createShellPool({ size: 2 });
    const marker = await poolMarker(pool);
    const { stdout } = await pool.run('set -m; sleep 1000 & echo $!; sleep 1001 & echo $!');
    const jobs = pids(stdout);
    strays.push(...jobs);
    expect(jobs.every(processAlive)).toBe(true);
    // The job really left the slot's process group: a group kill alone would miss it.
    const shell = await pool.run('echo $PPID');
    expect(groupOf(jobs[0] as number)).not.toBe(groupOf(Number(shell.stdout)));
    await pool.close();
    await vi.waitFor(() => expect(jobs.filter(processAlive)).toEqual([]), { timeout: 10_000, interval: 20 });
    expect(slotProcesses(marker)).toEqual([]);
  });

  it('a job that ignores SIGTERM and left the session (setsid) is SIGKILLed through its marker', async () => {
    const clock = new ManualClock();
    const pool = createShellPool({ size: 1, clock, killGraceMs: 5_000 });
    // The job writes its pid once it has started: wait for it (up to 10 s) rather than a fixed while.
    const { stdout } = await pool.run(
      'out=/tmp/ordo-setsid-$$.out; setsid bash -c \'trap "" TERM; sleep 1000 & echo $!; wait\' > $out 2>&1 & for i in $(seq 200); do [ -s $out ] && break; sleep 0.05; done; cat $out; rm $out',
    );
    const [job] = pids(stdout);
    strays.push(job as number);
    expect(processAlive(job as number)).toBe(true);
    const closing = pool.close();
    await closing;
    await vi.waitFor(() => expect(processAlive(job as number)).toBe(false), {
      timeout: 10_000,
      interval: 20,
    });
  });

  it('resolves even when an escaped process (new session, empty environment) keeps the pipes open', async () => {
    const pool = createShellPool({ size: 1 });
    const { stdout } = await pool.run('setsid env -i sleep 1000 & echo $!');
    const [job] = pids(stdout);
    strays.push(job as number);
    // Wait until it runs sleep in a session of its own (and with an empty environment).
    await vi.waitFor(
      () => expect(readFileSync(`/proc/${job}/cmdline`, 'latin1')).toBe('sleep\u00001000\u0000'),
      { timeout: 10_000, interval: 20 },
    );
    await pool.close(); // would hang forever if close() waited for the pipes
    expect(processAlive(job as number)).toBe(true); // documented: such a process escapes
  });

  it('a timeout kills the `set -m` jobs of the command too', async () => {
    const clock = new ManualClock();
    await using pool = createShellPool({ size: 1, clock, timeoutMs: 1_000 });
    const marker = await poolMarker(pool);
    const running = pool.run('set -m; sleep 1000 & sleep 1000');
    let job = 0;
    running.catch(() => {});
    await vi.waitFor(() => expect(clock.pendingTimers).toBe(1));
    await vi.waitFor(
      () => {
        const mine = slotProcesses(marker).filter(
          (pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1') === 'sleep\u00001000\u0000',
        );
        expect(mine.length).toBeGreaterThanOrEqual(2);
        job = mine[0] as number;
      },
      { timeout: 10_000, interval: 20 },
    );
    strays.push(job);
    clock.advance(1_000);
    await expect(running).rejects.toMatchObject({ code: 'SHELL_TIMEOUT' });
    await vi.waitFor(() => expect(processAlive(job)).toBe(false), { timeout: 10_000, interval: 20 });
  });

  it('refuses `set -m` and `set -o monitor` when an allowlist is set', async () => {
    await using pool = createShellPool({ size: 1, allow: ['set', 'sleep'], allowCompound: true });
    for (const line of ['set -m; sleep 1000 &', 'set -o monitor; sleep 1000 &', 'set -bm']) {
      await expect(pool.run(line)).rejects.toMatchObject({ code: 'SHELL_NOT_ALLOWED' });
    }
    expect(pool.stats().shellsStarted).toBe(0);
  });

  it('refuses a bad killGraceMs', () => {
    for (const killGraceMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createShellPool({ killGraceMs })).toThrowError(
        expect.objectContaining({ code: 'SHELL_INVALID_OPTION' }),
      );
    }
  });
});

describe('createShellPool: with an allowlist, PATH keeps its absolute entries only', () => {
  it('a file named like an allowed command in the current directory never runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ordo-path-'));
    try {
      writeFileSync(join(dir, 'ls'), '#!/bin/sh\necho planted\n', { mode: 0o755 });
      for (const PATH of ['.:/usr/bin:/bin', ':/usr/bin:/bin', '/usr/bin::/bin', 'x/..:/usr/bin:/bin']) {
        await using pool = createShellPool({ size: 1, cwd: dir, allow: ['ls'], env: { PATH } });
        expect((await pool.run('ls')).stdout).toBe('ls\n');
        await using other = createShellPool({ size: 1, cwd: dir, allow: ['ls'] });
        expect((await other.run('ls', { env: { PATH } })).stdout).toBe('ls\n');
        await expect(other.run('ls', { env: { PATH: undefined } })).rejects.toMatchObject({
          code: 'SHELL_INVALID_OPTION',
        });
        // Without an allowlist the caller is trusted with any PATH.
        await using open = createShellPool({ size: 1, cwd: dir, env: { PATH } });
        const planted = PATH.startsWith('.') || PATH.startsWith(':');
        expect((await open.run('ls')).stdout).toBe(planted ? 'planted\n' : 'ls\n');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
