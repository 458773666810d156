import { describe, expect, it, vi } from 'vitest';
import { signalTree } from '../src/internal/processTree.js';

describe('signalTree', () => {
  it('signals nothing and scans nothing for a leader that is not a child’s group: 0, -0, 1, -1, NaN, 2^53', () => {
    // A marker every process of this test run carries: a scan that ran would find (and signal) them all.
    const marker = `PATH=${process.env.PATH}`;
    const sent = vi.spyOn(process, 'kill').mockImplementation(() => true);
    try {
      for (const leader of [0, -0, 1, -1, Number.NaN, 2 ** 53, Number('')]) {
        expect(signalTree(leader, 'SIGKILL', marker)).toBe(0);
      }
      expect(sent).not.toHaveBeenCalled();
    } finally {
      sent.mockRestore();
    }
  });
});
