import { readFile } from 'node:fs/promises';
import { vi } from 'vitest';

/**
 * Polls `file` until `accept` turns its text into a value (or throws saying why not yet). Polling, not
 * `fs.promises.watch`: its iterator only starts watching on its first `next()`, so a write between a first
 * read and that call was missed and a test hung.
 */
async function waitForContent<T>(file: string, accept: (text: string) => T, timeoutMs: number): Promise<T> {
  return vi.waitFor(async () => accept(await readFile(file, 'utf8').catch(() => '')), {
    timeout: timeoutMs,
    interval: 20,
  });
}

/** The text of `file` once it exists and is not empty (a writer truncates it before it writes). */
export function waitForFile(file: string, timeoutMs = 30_000): Promise<string> {
  return waitForContent(
    file,
    (text) => {
      if (!text) throw new Error(`${file} is still missing or empty`);
      return text;
    },
    timeoutMs,
  );
}

/**
 * The pid a task wrote to `file`, once it holds a whole one (above 1). A file still empty reads as
 * `Number('') === 0`: `killProcess` refuses that, and a plain `process.kill(0)` would kill the test's whole
 * process group, CI's shell with it.
 */
export function waitForPid(file: string, timeoutMs = 30_000): Promise<number> {
  return waitForContent(
    file,
    (raw) => {
      const text = raw.trim();
      const pid = /^[0-9]+$/.test(text) ? Number(text) : 0;
      if (!(pid > 1)) throw new Error(`${file} does not hold a pid yet (${JSON.stringify(text)})`);
      return pid;
    },
    timeoutMs,
  );
}
