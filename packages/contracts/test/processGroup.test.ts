import { spawn } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import { signalProcessGroup } from '../src/index.js';
import { processAlive } from '../src/testing.js';

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
});
