import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { isChildGroupPid, processExists, signalProcessGroup } from '../src/index.js';
import { killProcess, killProcesses, processAlive } from '../src/testing.js';

describe('signalProcessGroup', () => {
  it('ends a detached child and the processes it started', async () => {
    const child = spawn('bash', ['-c', 'sleep 1000 & echo $!; wait'], { detached: true, stdio: 'pipe' });
    const grandchild = await new Promise<number>((resolve) =>
      child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString()))),
    );
    expect(processAlive(grandchild)).toBe(true);
    expect(signalProcessGroup(child, 'SIGKILL')).toBe(true);
    await vi.waitFor(() => expect(processAlive(grandchild)).toBe(false), { timeout: 10_000, interval: 20 });
  });

  it('falls back to the child alone when it leads no group, and reports a gone child', async () => {
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    expect(signalProcessGroup(child, 'SIGKILL')).toBe(true);
    await exited;
    expect(signalProcessGroup({ pid: undefined, kill: () => false }, 'SIGTERM')).toBe(false);
  });

  it('never signals its own group: a pid of 0, 1, a negative or NaN one goes to the child alone', () => {
    const sent = vi.spyOn(process, 'kill').mockImplementation(() => true);
    try {
      for (const pid of [0, 1, -1, -0, Number.NaN, 2 ** 53]) {
        const kills: string[] = [];
        const leader = { pid, kill: (signal?: NodeJS.Signals) => kills.push(signal ?? '') > 0 };
        expect(signalProcessGroup(leader, 'SIGKILL')).toBe(true);
        expect(kills).toEqual(['SIGKILL']);
      }
      expect(sent).not.toHaveBeenCalled();
    } finally {
      sent.mockRestore();
    }
    expect([0, -0, 1, -1, Number.NaN, 1.5, 2 ** 53, undefined].map(isChildGroupPid)).not.toContain(true);
    expect(isChildGroupPid(2)).toBe(true);
  });
});

describe('killProcess (testing)', () => {
  it('kills one process and reports a gone one', async () => {
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    expect(killProcess(child.pid as number)).toBe(true);
    await exited;
    expect(killProcess(child.pid as number)).toBe(false);
  });

  it('refuses what would signal a group or itself: 0 (an empty pid file), negatives, NaN, its own pid', () => {
    const sent = vi.spyOn(process, 'kill').mockImplementation(() => true);
    try {
      for (const pid of [Number(''), -0, -42, Number.NaN, 1.5, process.pid, Number.POSITIVE_INFINITY]) {
        expect(() => killProcess(pid)).toThrow(RangeError);
      }
      expect(sent).not.toHaveBeenCalled();
    } finally {
      sent.mockRestore();
    }
  });

  it('killProcesses kills every pid even past a refused one, then throws the refusals together', async () => {
    const children = [
      spawn('sleep', ['1000'], { stdio: 'ignore' }),
      spawn('sleep', ['1000'], { stdio: 'ignore' }),
    ];
    const exits = children.map((child) => once(child, 'exit'));
    const [first, second] = children.map((child) => child.pid as number) as [number, number];
    expect(() => killProcesses([first, 0, second])).toThrow(AggregateError);
    await Promise.all(exits);
    expect(processExists(first) || processExists(second)).toBe(false);
    expect(killProcesses([first, second])).toBe(0);
  });
});

describe('processExists', () => {
  it('is true for this process and a live child, false once it is reaped, never for pid 0, -1 or NaN', async () => {
    expect(processExists(process.pid)).toBe(true);
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    expect(processExists(child.pid as number)).toBe(true);
    child.kill('SIGKILL');
    await exited;
    expect(processExists(child.pid as number)).toBe(false);
    // kill(0, 0) and kill(-1, 0) succeed: they address process groups, not a writer.
    for (const pid of [0, -0, -1, Number.NaN, 1.5, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(processExists(pid)).toBe(false);
    }
  });
});
