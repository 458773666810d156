import { execFileSync } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { readStateFile, StateStore } from '../src/index.js';

/** The error `promise` rejects with (fails the test if it resolves). */
async function rejection(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as never;
  }
  return expect.unreachable('it did not throw');
}

describe('a state file path that is not a regular file', () => {
  it('a FIFO is STATE_NOT_A_FILE at once, not a hang (open and readStateFile), and is left alone', async () => {
    const dir = await tempDir('ordo-state-fifo-');
    const file = join(dir, 'state.json');
    execFileSync('mkfifo', [file]);
    // Four at once: blocking opens would fill libuv's thread pool and stall this very test.
    const errors = await Promise.all([
      rejection(StateStore.open({ file })),
      rejection(StateStore.open({ file })),
      rejection(readStateFile(file)),
      rejection(readStateFile(file, { recover: false })),
    ]);
    for (const error of errors) {
      expect(isOrdoError(error, 'STATE_NOT_A_FILE')).toBe(true);
      expect(error.message).toContain('FIFO');
      expect(error.details?.path).toBe(file);
    }
    expect((await stat(file)).isFIFO()).toBe(true);
  });

  it('a directory is STATE_NOT_A_FILE, not a raw EISDIR, and stays as it was', async () => {
    const dir = await tempDir('ordo-state-dir-');
    const file = join(dir, 'state.json');
    await mkdir(file);
    await writeFile(join(file, 'keep'), 'x');
    const error = await rejection(StateStore.open({ file }));
    expect(isOrdoError(error, 'STATE_NOT_A_FILE')).toBe(true);
    expect(error.message).toMatch(/is a directory, not a regular file/);
    expect(await readFile(join(file, 'keep'), 'utf8')).toBe('x');
  });

  it('a FIFO or directory as the backup of a missing or corrupt file is refused too', async () => {
    const dir = await tempDir('ordo-state-bak-');
    const file = join(dir, 'state.json');
    execFileSync('mkfifo', [`${file}.bak`]);
    expect((await rejection(StateStore.open({ file }))).code).toBe('STATE_NOT_A_FILE');
    await writeFile(file, '{"truncated');
    expect((await rejection(readStateFile(file))).code).toBe('STATE_NOT_A_FILE');
  });

  it('a unix socket is STATE_NOT_A_FILE', async () => {
    const dir = await tempDir('ordo-state-sock-');
    const file = join(dir, 's');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(file, resolve));
    try {
      expect((await rejection(StateStore.open({ file }))).code).toBe('STATE_NOT_A_FILE');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a character device (/dev/null) is STATE_NOT_A_FILE, never read as an empty state', async () => {
    const error = await rejection(readStateFile('/dev/null', { recover: false }));
    expect(error.code).toBe('STATE_NOT_A_FILE');
    expect(error.message).toContain('a device');
  });
});
