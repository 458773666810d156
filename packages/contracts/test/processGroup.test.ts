import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { signalProcessGroup } from '../src/index.js';

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

describe('signalProcessGroup', () => {
  it('ends a detached child and the processes it started', async () => {
    const child = spawn('bash', ['-c', 'sleep 1000 & echo $!; wait'], { detached: true, stdio: 'pipe' });
    const grandchild = await new Promise<number>((resolve) =>
      child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString()))),
    );
    expect(alive(grandchild)).toBe(true);
    expect(signalProcessGroup(child, 'SIGKILL')).toBe(true);
    await vi.waitFor(() => expect(alive(grandchild)).toBe(false), { timeout: 10_000, interval: 20 });
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
