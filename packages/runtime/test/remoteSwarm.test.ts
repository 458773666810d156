import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { SwarmLauncher } from '@ordo/launcher';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createRuntime, hostNodeMounts, type PlanInput, workerCommand } from '../src/index.js';
import { readTree, tempWorkspace } from './helpers/workspace.js';

/*
 * Remote workers started by Docker Swarm: the runtime's worker endpoint with a `SwarmLauncher` as its
 * starter, against the real engine (`bash scripts/docker-engine.sh start`, then the DOCKER_HOST it prints),
 * put in swarm mode here when it is not already and left at the end. Each worker is a service running
 * `ordo worker` with the host's Node and this repo bind-mounted read-only, the token as a Docker secret file,
 * and the endpoint's unix socket bind-mounted: it connects back in over it. Skipped without an engine,
 * failing with ORDO_REQUIRE_DOCKER=1.
 */
const run = promisify(execFile);
const IMAGE = 'ordo-test/busybox:1';
const engineUp = process.env.DOCKER_HOST
  ? await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 15_000 }).then(
      () => true,
      () => false,
    )
  : false;
const skip = !engineUp && process.env.ORDO_REQUIRE_DOCKER !== '1';
if (skip) console.warn('[runtime] skipping the swarm remote worker test: no engine at DOCKER_HOST.');
const runLabel = `runtime-swarm-${randomUUID()}`;

const plan: PlanInput = {
  feature: 'on-swarm',
  seed: 11,
  tasks: [
    { id: 'a', files: ['a.txt'], run: { shell: 'echo "a from $ORDO_TASK_ID" > a.txt' } },
    { id: 'b', files: ['b.txt'], run: { shell: 'echo b > b.txt' } },
    {
      id: 'c',
      deps: ['a', 'b'],
      files: ['a.txt', 'b.txt', 'c.txt'],
      run: { shell: 'cat a.txt b.txt > c.txt' },
    },
  ],
};

describe.skipIf(skip)('remote workers as Docker Swarm services', () => {
  let initialised = false;
  beforeAll(async () => {
    const { stdout } = await run('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}']);
    if (stdout.trim() === 'active') return;
    await run('docker', [
      'swarm',
      'init',
      '--advertise-addr',
      '127.0.0.1',
      '--listen-addr',
      '127.0.0.1:2377',
    ]);
    initialised = true;
  }, 60_000);
  afterAll(async () => {
    const { stdout } = await run('docker', [
      'service',
      'ls',
      '-q',
      '--filter',
      `label=ordo.test.run=${runLabel}`,
    ]);
    for (const id of stdout.split('\n').filter(Boolean))
      await run('docker', ['service', 'rm', id]).catch(() => {});
    if (initialised) await run('docker', ['swarm', 'leave', '--force']);
  }, 60_000);

  it('SwarmLauncher starts the workers, they connect back over the bind-mounted socket, and the digest is the subprocess run\u2019s', async () => {
    const local = await (async () => {
      await using runtime = await createRuntime({ workspace: await tempWorkspace(), workers: 2 });
      return await runtime.runFeature(plan);
    })();
    expect(local.status).toBe('succeeded');

    const ws = await tempWorkspace();
    const sockDir = await tempDir('ordo-swarm-sock-');
    const token = randomBytes(32).toString('base64url');
    // `ordo worker` from source, with the host's Node: the CLI entry beside src/worker.ts.
    const { command, args } = workerCommand();
    const bin = path.join(path.dirname(args[args.length - 1] as string), 'cli', 'bin.ts');
    const starter = new SwarmLauncher({
      image: IMAGE,
      cmd: [command, ...args.slice(0, -1), bin, 'worker'],
      mounts: [...(await hostNodeMounts()), { source: sockDir, target: sockDir, readOnly: false }],
      secrets: [{ name: 'ordo-worker', data: token, env: 'ORDO_WORKER_TOKEN_FILE' }],
      labels: { 'ordo.test.run': runLabel },
      stopGraceMs: 1000,
    });
    await using runtime = await createRuntime({
      workspace: ws,
      workers: {
        count: 2,
        remote: {
          listen: `unix://${path.join(sockDir, 'w.sock')}`,
          token,
          starter,
          connectTimeoutMs: 120_000,
        },
      },
    });
    const result = await runtime.runFeature(plan);
    expect(result.status).toBe('succeeded');
    expect(result.traceDigest).toBe(local.traceDigest);
    expect(await readTree(ws)).toEqual({ 'a.txt': 'a from a\n', 'b.txt': 'b\n', 'c.txt': 'a from a\nb\n' });
    // The run may finish on the first worker to connect; the second service still connects in.
    await vi.waitFor(
      () => expect(runtime.workerEndpoint?.stats()).toMatchObject({ accepted: 2, connected: 2 }),
      { timeout: 120_000, interval: 200 },
    );
    // The token reached the workers only as a secret file: not in any service's spec.
    const { stdout } = await run('docker', [
      'service',
      'ls',
      '-q',
      '--filter',
      `label=ordo.test.run=${runLabel}`,
    ]);
    const ids = stdout.split('\n').filter(Boolean);
    expect(ids).toHaveLength(2);
    const { stdout: specs } = await run('docker', ['service', 'inspect', ...ids]);
    expect(specs).not.toContain(token);
    expect(specs).toContain('/run/secrets/ordo-worker');
    await runtime.close();
    const { stdout: after } = await run('docker', [
      'service',
      'ls',
      '-q',
      '--filter',
      `label=ordo.test.run=${runLabel}`,
    ]);
    expect(after.trim()).toBe('');
  }, 300_000);
});
