import type { Launcher } from '@ordo/contracts';
import { SubprocessLauncher } from '@ordo/launcher';
import { describe, expect, it } from 'vitest';
import { createRuntime, workerCommand } from '../src/index.js';
import { readTree, tempWorkspace } from './helpers/workspace.js';

const plan = { feature: 'l', tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }] };

// launcher: 'docker' against a real engine: test/dockerWorkers.test.ts.

describe('launchers', () => {
  it('runs on a Launcher the host brings, when its handles have io', async () => {
    const ws = await tempWorkspace();
    const { command, args } = workerCommand();
    const launcher = new SubprocessLauncher({ command, args, cwd: ws });
    await using runtime = await createRuntime({ workspace: ws, workers: 1, launcher });
    expect((await runtime.runFeature(plan)).status).toBe('succeeded');
    expect(await readTree(ws)).toEqual({ 'a.txt': 'a\n' });
  });

  it('refuses a launcher whose handles have no io with RUNTIME_LAUNCHER_UNSUPPORTED', async () => {
    const ws = await tempWorkspace();
    const { command, args } = workerCommand();
    const real = new SubprocessLauncher({ command, args, cwd: ws });
    // The same launcher, seen through handles without their io channel (a ContainerLauncher's, no attachStdio).
    const withoutIo: Launcher = {
      spawn: async (id, spec, signal) => ({ ...(await real.spawn(id, spec, signal)), io: undefined }),
      monitor: (id, signal) => real.monitor(id, signal),
      syncState: (signal) => real.syncState(signal),
      terminate: (id, options) => real.terminate(id, options),
      terminateAll: (options) => real.terminateAll(options),
      handle: (id) => real.handle(id),
      on: (event, listener) => real.on(event, listener),
      off: (event, listener) => real.off(event, listener),
      close: () => real.close(),
      [Symbol.asyncDispose]: () => real.close(),
    };
    await using runtime = await createRuntime({ workspace: ws, workers: 2, launcher: withoutIo });
    await expect(runtime.runFeature(plan)).rejects.toMatchObject({
      code: 'RUNTIME_LAUNCHER_UNSUPPORTED',
      message: expect.stringMatching(/launcher: 'subprocess'/),
    });
    expect(await readTree(ws)).toEqual({});
  });
});
