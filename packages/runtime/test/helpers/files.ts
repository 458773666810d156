import { readFile } from 'node:fs/promises';
import { vi } from 'vitest';

/** The text of `file` once it exists and is not empty (a writer truncates it before it writes). */
export async function waitForFile(file: string, timeoutMs = 30_000): Promise<string> {
  return vi.waitFor(
    async () => {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (!text) throw new Error(`${file} is still missing or empty`);
      return text;
    },
    { timeout: timeoutMs, interval: 20 },
  );
}

/**
 * The pid a task wrote to `file`, once it holds a whole one. Never 0: `Number('')` of a file still empty
 * is 0, and `process.kill(0)` kills the test's whole process group, CI's shell with it.
 */
export async function waitForPid(file: string, timeoutMs = 30_000): Promise<number> {
  return vi.waitFor(
    async () => {
      const text = (await readFile(file, 'utf8').catch(() => '')).trim();
      const pid = /^[0-9]+$/.test(text) ? Number(text) : 0;
      if (!(pid > 1)) throw new Error(`${file} does not hold a pid yet (${JSON.stringify(text)})`);
      return pid;
    },
    { timeout: timeoutMs, interval: 20 },
  );
}
