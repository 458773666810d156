import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { heapSizeLimitFor } from '@ordo/contracts/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createRuntime, type FeatureEvent, type FeatureResult, type PlanInput } from '../src/index.js';
import { waitForFile } from './helpers/files.js';
import { eventWaiter, fixture, readTree, tempWorkspace } from './helpers/workspace.js';

/*
 * `launcher: 'docker'` against a real engine: DOCKER_HOST must point at it
 * (`bash scripts/docker-engine.sh start`, then `eval "$(bash scripts/docker-engine.sh env)"`). Without one
 * these tests skip, unless ORDO_REQUIRE_DOCKER=1 (CI), where they fail. The image is the engine's bare
 * busybox: the host's Node, bash and this repo are mounted read-only into each worker (`mountHostNode`).
 */
const run = promisify(execFile);
const IMAGE = 'ordo-test/busybox:1';
const engineUp = process.env.DOCKER_HOST
  ? await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 15_000 }).then(
      () => true,
      () => false,
    )
  : false;
const requireDocker = process.env.ORDO_REQUIRE_DOCKER === '1';
const skip = !engineUp && !requireDocker;
if (skip) console.warn('[runtime] skipping the docker worker tests: no engine at DOCKER_HOST.');

const tasks = fixture('tasks.mjs');
/** Every container these tests start carries `ordo.test.run=<this>`, and is removed by the end. */
const runLabel = `runtime-docker-${randomUUID()}`;

async function containers(filters: string[], all = true): Promise<string[]> {
  const args = ['ps', '-q', ...(all ? ['-a'] : []), '--filter', `label=ordo.test.run=${runLabel}`];
  for (const f of filters) args.push('--filter', f);
  const { stdout } = await run('docker', args);
  return stdout.split('\n').filter(Boolean);
}

function dockerRuntime(
  workspace: string,
  extra: Record<string, unknown> = {},
  config?: { workers: { heapMb?: number; stallTimeoutMs?: number } },
) {
  return createRuntime({
    workspace,
    workers: 2,
    launcher: 'docker',
    docker: { image: IMAGE, labels: { 'ordo.test.run': runLabel }, ...extra },
    ...(config ? { config } : {}),
  });
}

/** Four tasks in two levels, shell (bash syntax included) and module. */
const plan: PlanInput = {
  feature: 'in-containers',
  seed: 3,
  tasks: [
    { id: 'shell-a', files: ['a.txt'], run: { shell: 'echo "$ORDO_TASK_ID" > a.txt' } },
    {
      id: 'shell-b',
      files: ['b/b.txt'],
      run: { shell: '[[ -d b ]] && tr a-z A-Z <<< "$ORDO_FEATURE" > b/b.txt' },
    },
    {
      id: 'module-a',
      deps: ['shell-a'],
      files: ['a.txt'],
      run: { module: tasks, input: { path: 'a.txt', line: 'by module' } },
    },
    {
      // It reads level 0's files, so it declares them (as every path a task touches).
      id: 'shell-c',
      deps: ['shell-a', 'shell-b'],
      files: ['c.txt', 'a.txt', 'b/b.txt'],
      run: { shell: 'cat a.txt b/b.txt > c.txt' },
    },
  ],
};

describe.skipIf(skip)("launcher: 'docker' on a real engine", () => {
  beforeAll(() => {
    if (!engineUp) throw new Error('ORDO_REQUIRE_DOCKER=1 but no Docker engine answers at DOCKER_HOST.');
  });
  afterAll(async () => {
    if (!engineUp) return;
    const left = await containers([]);
    if (left.length > 0) await run('docker', ['rm', '-f', ...left]);
  });

  it('runs a feature on 2 container workers: the files and trace digest of subprocess workers', async () => {
    const inDocker = await tempWorkspace({ 'b/keep.txt': 'kept\n' });
    const inProcesses = await tempWorkspace({ 'b/keep.txt': 'kept\n' });
    const events: FeatureEvent[] = [];
    let result: FeatureResult;
    {
      await using runtime = await dockerRuntime(inDocker);
      result = await runtime.runFeature(plan, { onEvent: (e) => events.push(e) });
      // Each worker is a container of the image, with no network.
      const ids = await containers(['status=running']);
      expect(ids).toHaveLength(2);
      const { stdout } = await run('docker', [
        'inspect',
        '--format',
        '{{.Config.Image}} {{.HostConfig.NetworkMode}} {{index .Config.Labels "ordo.role"}}',
        ...ids,
      ]);
      expect(stdout.trim().split('\n')).toEqual(Array(2).fill(`${IMAGE} none runtime-worker`));
    }
    expect(result.tasks.filter((t) => t.error)).toEqual([]);
    expect(result.status).toBe('succeeded');
    expect(result.tasks.map((t) => `${t.level}:${t.id}:${t.status}`).sort()).toEqual([
      '0:shell-a:committed',
      '0:shell-b:committed',
      '1:module-a:committed',
      '1:shell-c:committed',
    ]);
    const workers = new Set(events.flatMap((e) => (e.type === 'task-start' ? [e.workerId] : [])));
    expect(workers.size).toBeGreaterThan(0);
    const expected = {
      'a.txt': 'shell-a\nby module\n',
      'b/b.txt': 'IN-CONTAINERS\n',
      'b/keep.txt': 'kept\n',
      'c.txt': 'shell-a\nIN-CONTAINERS\n',
    };
    expect(await readTree(inDocker)).toEqual(expected);
    // close() removed every container.
    expect(await containers([])).toEqual([]);

    await using subprocess = await createRuntime({ workspace: inProcesses, workers: 2 });
    const reference = await subprocess.runFeature(plan);
    expect(await readTree(inProcesses)).toEqual(expected);
    expect(result.traceDigest).toBe(reference.traceDigest);
  }, 120_000);

  it('fails the task of a killed container with WORKER_CRASHED and starts a replacement', async () => {
    const ws = await tempWorkspace();
    const shared = await tempDir('ordo-docker-shared-');
    const pidFile = path.join(shared, 'pid');
    const waiter = eventWaiter<FeatureEvent>();
    {
      await using runtime = await dockerRuntime(ws, {
        mounts: [{ source: shared, target: shared, readOnly: false }],
      });
      const running = runtime.runFeature(
        {
          feature: 'killed',
          tasks: [
            { id: 'victim', files: [], run: { module: tasks, export: 'hang', input: { pidFile } } },
            { id: 'after', deps: ['victim'], files: ['after.txt'], run: { shell: 'echo x > after.txt' } },
          ],
        },
        { onEvent: waiter.onEvent },
      );
      const start = await waiter.next((e) => e.type === 'task-start' && e.taskId === 'victim');
      const workerId = (start as Extract<FeatureEvent, { type: 'task-start' }>).workerId;
      await waitForFile(pidFile); // the task is running inside the container
      const [victim] = await containers([`label=ordo.worker-id=${workerId}`]);
      await run('docker', ['kill', victim as string]);
      const result = await running;
      expect(result.status).toBe('failed');
      expect(result.tasks.find((t) => t.id === 'victim')).toMatchObject({
        status: 'failed',
        error: { code: 'WORKER_CRASHED' },
      });
      expect(result.tasks.find((t) => t.id === 'after')?.status).toBe('skipped');
      expect(await runtime.metricsText()).toMatch(/ordo_runtime_worker_crashes_total 1/);

      // A replacement container (a new worker id) joins the survivor and runs the next feature.
      await eventually(async () => (await containers(['status=running'])).length === 2);
      const again = await runtime.runFeature({
        feature: 'after-kill',
        tasks: ['x', 'y', 'z'].map((x) => ({
          id: x,
          files: [`${x}.txt`],
          run: { shell: `echo ${x} > ${x}.txt` },
        })),
      });
      expect(again.status).toBe('succeeded');
      expect(await readTree(ws)).toEqual({ 'x.txt': 'x\n', 'y.txt': 'y\n', 'z.txt': 'z\n' });
      const live = await containers(['status=running']);
      expect(live).toHaveLength(2);
      const { stdout } = await run('docker', [
        'inspect',
        '--format',
        '{{index .Config.Labels "ordo.worker-id"}}',
        ...live,
      ]);
      const liveIds = stdout.trim().split('\n');
      expect(liveIds).not.toContain(workerId);
      expect(liveIds).toContain('w3');
    }
    expect(await containers([])).toEqual([]);
  }, 120_000);

  it('caps the heap of a container worker at config.workers.heapMb', async () => {
    const ws = await tempWorkspace();
    const modules = path.dirname(tasks);
    await using runtime = await dockerRuntime(
      ws,
      { mounts: [{ source: modules, target: modules }] },
      {
        workers: { heapMb: 80 },
      },
    );
    const result = await runtime.runFeature({
      feature: 'heap-in-container',
      tasks: [
        {
          id: 'h',
          files: ['heap.txt'],
          run: { module: tasks, export: 'heapLimit', input: { path: 'heap.txt' } },
        },
      ],
    });
    expect(result.status).toBe('succeeded');
    const limit = Number((await readTree(ws))['heap.txt']?.split(' ')[0]);
    expect(limit).toBeGreaterThanOrEqual(80 * 2 ** 20);
    // The container runs this host's node binary: the same cap gives the same limit.
    expect(limit).toBe(heapSizeLimitFor(80));
  }, 120_000);

  it('fails a task that blocks its container worker with TASK_STALLED, removes that container and goes on', async () => {
    const ws = await tempWorkspace();
    const events: FeatureEvent[] = [];
    await using runtime = await dockerRuntime(ws, {}, { workers: { stallTimeoutMs: 3_000 } });
    const result = await runtime.runFeature(
      {
        feature: 'stall-in-container',
        tasks: [
          { id: 'spin', priority: 'HIGH', files: [], run: { module: tasks, export: 'block' } },
          { id: 'after', deps: ['spin'], files: [], run: { shell: 'true' } },
          { id: 'other', files: ['o.txt'], run: { shell: 'echo o > o.txt' } },
        ],
      },
      { onEvent: (e) => events.push(e) },
    );
    expect(result.tasks.find((t) => t.id === 'spin')).toMatchObject({
      status: 'failed',
      error: { code: 'TASK_STALLED' },
    });
    expect(result.tasks.find((t) => t.id === 'other')?.status).toBe('committed');
    const spinStart = events.find((e) => e.type === 'task-start' && e.taskId === 'spin');
    const workerId = (spinStart as Extract<FeatureEvent, { type: 'task-start' }>).workerId;
    await eventually(async () => (await containers([`label=ordo.worker-id=${workerId}`])).length === 0);
  }, 120_000);

  it('reads a module outside the mounts only once its directory is mounted', async () => {
    const dir = await tempDir('ordo-docker-modules-');
    const module = path.join(dir, 'write.mjs');
    await writeFile(
      module,
      "export default () => [{ path: 'm.txt', content: 'from a mounted module\\n' }];\n",
    );
    const modulePlan: PlanInput = {
      feature: 'module',
      tasks: [{ id: 'm', files: ['m.txt'], run: { module } }],
    };

    const unmounted = await tempWorkspace();
    {
      await using runtime = await dockerRuntime(unmounted);
      const result = await runtime.runFeature(modulePlan);
      expect(result.tasks[0]).toMatchObject({ status: 'failed', error: { code: 'TASK_FAILED' } });
      expect(result.tasks[0]?.error?.message).toContain(`${module} cannot be read where this worker runs`);
      expect(result.tasks[0]?.error?.message).toContain('docker.mounts');
      expect(await readTree(unmounted)).toEqual({});
    }

    const mounted = await tempWorkspace();
    await using runtime = await dockerRuntime(mounted, { mounts: [{ source: dir, target: dir }] });
    expect((await runtime.runFeature(modulePlan)).status).toBe('succeeded');
    expect(await readTree(mounted)).toEqual({ 'm.txt': 'from a mounted module\n' });
  }, 120_000);

  it('rejects with WORKER_START_FAILED when the image does not run the worker', async () => {
    const ws = await tempWorkspace();
    await using runtime = await dockerRuntime(ws, {
      mountHostNode: false,
      cmd: ['sh', '-c', 'echo no worker here'],
    });
    await expect(runtime.runFeature(plan)).rejects.toMatchObject({ code: 'WORKER_START_FAILED' });
    expect(await readTree(ws)).toEqual({});
  }, 60_000);

  it('takes the image from ORDO_WORKER_IMAGE; one the engine lacks is LAUNCHER_IMAGE_NOT_FOUND', async () => {
    const ws = await tempWorkspace();
    const previous = process.env.ORDO_WORKER_IMAGE;
    process.env.ORDO_WORKER_IMAGE = 'ordo-test/no-such-image:0';
    try {
      await using runtime = await dockerRuntime(ws, { image: undefined });
      await expect(runtime.runFeature(plan)).rejects.toMatchObject({
        code: 'LAUNCHER_IMAGE_NOT_FOUND',
        message: expect.stringContaining('ordo-test/no-such-image:0'),
      });
    } finally {
      if (previous === undefined) delete process.env.ORDO_WORKER_IMAGE;
      else process.env.ORDO_WORKER_IMAGE = previous;
    }
    expect(await readTree(ws)).toEqual({});
    expect(await containers([])).toEqual([]);
  }, 60_000);
});

describe("launcher: 'docker' options", () => {
  it('needs an image: RUNTIME_OPTIONS_INVALID naming docker.image', async () => {
    const ws = await tempWorkspace();
    const previous = process.env.ORDO_WORKER_IMAGE;
    delete process.env.ORDO_WORKER_IMAGE;
    try {
      await expect(createRuntime({ workspace: ws, launcher: 'docker' })).rejects.toMatchObject({
        code: 'RUNTIME_OPTIONS_INVALID',
        details: { option: 'docker.image' },
        message: expect.stringMatching(/ORDO_WORKER_IMAGE/),
      });
    } finally {
      if (previous !== undefined) process.env.ORDO_WORKER_IMAGE = previous;
    }
  });

  it('refuses an ORDO_WORKER_MOUNT_HOST_NODE that is not 1, true, 0 or false', async () => {
    const ws = await tempWorkspace();
    process.env.ORDO_WORKER_MOUNT_HOST_NODE = 'maybe';
    try {
      await expect(
        createRuntime({ workspace: ws, launcher: 'docker', docker: { image: IMAGE } }),
      ).rejects.toMatchObject({
        code: 'RUNTIME_OPTIONS_INVALID',
        details: { option: 'docker.mountHostNode' },
        message: expect.stringContaining('"maybe"'),
      });
    } finally {
      delete process.env.ORDO_WORKER_MOUNT_HOST_NODE;
    }
  });

  it.each([
    [{ source: 'relative/dir', target: '/x' }, 'docker.mounts[0].source'],
    [{ source: '/tmp', target: '/a:b' }, 'docker.mounts[0].target'],
  ])('refuses the mount %j with RUNTIME_OPTIONS_INVALID (%s)', async (mount, option) => {
    const ws = await tempWorkspace();
    await expect(
      createRuntime({ workspace: ws, launcher: 'docker', docker: { image: IMAGE, mounts: [mount] } }),
    ).rejects.toMatchObject({ code: 'RUNTIME_OPTIONS_INVALID', details: { option } });
  });
});

/** Polls (real time: it waits on the engine) until `check` holds; fails after 30 s. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 150 && !(await check()); i++) await new Promise((r) => setTimeout(r, 200));
  expect(await check()).toBe(true);
}
