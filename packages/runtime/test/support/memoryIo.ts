import { rm } from 'node:fs/promises';
import { tempDir as trackedTempDir } from '../../../../vitest.tempDirs.js';
import type { CliIo } from '../../src/cli/io.js';

/** A CliIo whose stdout and stderr are collected in memory, for in-process `main()` tests. */
export interface MemoryIo {
  io: CliIo;
  stdout(): string;
  stderr(): string;
}

export function memoryIo(overrides: Partial<CliIo> & Pick<CliIo, 'cwd'>): MemoryIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (chunk: string) => out.push(chunk) },
      stderr: { write: (chunk: string) => err.push(chunk) },
      env: {},
      isTTY: false,
      ...overrides,
    },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

/** A temp directory removed on dispose (`await using dir = await tempDir()`). */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await trackedTempDir('ordo-cli-');
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/** A line of a stack trace, as Node prints it. */
export const STACK_LINE = /^\s+at .+/m;
