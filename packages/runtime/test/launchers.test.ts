import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { Launcher } from '@ordo/contracts';
import { SubprocessLauncher } from '@ordo/launcher';
import { describe, expect, it } from 'vitest';
import { createRuntime, workerCommand } from '../src/index.js';
import { readTree, tempWorkspace } from './helpers/workspace.js';

const run = promisify(execFile);
const plan = { feature: 'l', tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }] };

/*
 * The Docker test needs a real engine: DOCKER_HOST must point at it (`bash scripts/docker-engine.sh env`).
 * Without one it skips, unless ORDO_REQUIRE_DOCKER=1 (CI), where it fails.
 */
const dockerReachable = process.env.DOCKER_HOST
  ? await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 15_000 }).then(
      () => true,
      () => false,
    )
  : false;
const requireDocker = process.env.ORDO_REQUIRE_DOCKER === '1';

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
    // The same launcher, seen through handles without their io channel (as ContainerLauncher's are today).
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

  it.skipIf(!dockerReachable && !requireDocker)(
    "'docker' builds a ContainerLauncher from ORDO_WORKER_IMAGE and refuses it while its handles have no io",
    async () => {
      const ws = await tempWorkspace();
      const runLabel = randomUUID();
      const previous = process.env.ORDO_WORKER_IMAGE;
      process.env.ORDO_WORKER_IMAGE = 'ordo-test/busybox:1';
      try {
        await using runtime = await createRuntime({
          workspace: ws,
          workers: 1,
          launcher: 'docker',
          docker: { cmd: ['sleep', '600'], labels: { 'ordo.test.run': runLabel } },
        });
        const failure = runtime.runFeature(plan);
        await expect(failure).rejects.toMatchObject({ code: 'RUNTIME_LAUNCHER_UNSUPPORTED' });
      } finally {
        if (previous === undefined) delete process.env.ORDO_WORKER_IMAGE;
        else process.env.ORDO_WORKER_IMAGE = previous;
      }
      const { stdout } = await run('docker', ['ps', '-q', '--filter', `label=ordo.test.run=${runLabel}`]);
      expect(stdout.trim()).toBe('');
    },
    60_000,
  );
});
