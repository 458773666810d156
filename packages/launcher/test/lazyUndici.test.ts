import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./lazyUndiciChild.ts', import.meta.url));

describe('undici is loaded lazily', () => {
  it('is not loaded by importing the package or creating a ContainerLauncher, only by its first Engine API call', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--conditions=@ordo/source',
      '--import',
      'tsx',
      child,
    ]);
    expect(JSON.parse(stdout)).toEqual({
      atStart: false,
      afterImport: false,
      afterCreate: false,
      afterFirstCall: true,
      apiCalls: { 'GET /containers/json': 1 },
    });
  });
});
