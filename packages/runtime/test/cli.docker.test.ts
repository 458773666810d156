import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { memoryIo, tempDir } from './support/memoryIo.js';
import { THREE_TASKS, writeFiles } from './support/planWorkspace.js';

// `ordo run --launcher docker` against a real engine (DOCKER_HOST); skips without one unless ORDO_REQUIRE_DOCKER=1.
const run = promisify(execFile);
const engineUp = process.env.DOCKER_HOST
  ? await run('docker', ['version'], { timeout: 15_000 }).then(
      () => true,
      () => false,
    )
  : false;

describe.skipIf(!engineUp && process.env.ORDO_REQUIRE_DOCKER !== '1')('ordo run --launcher docker', () => {
  it('runs the plan on container workers of --image and removes them', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    const io = memoryIo({ cwd: dir.path, env: { ...process.env } });
    const argv = [
      'run',
      'plan.yaml',
      '--launcher',
      'docker',
      '--image',
      'ordo-test/busybox:1',
      '--workers',
      '2',
    ];
    const code = await main(argv, io.io);
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    expect(io.stdout()).toMatch(/✓ demo succeeded: 3\/3 tasks committed/);
    expect(await readFile(join(dir.path, 'greeting.txt'), 'utf8')).toBe('HELLO\n');
    const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=ordo.role=runtime-worker']);
    expect(stdout.trim()).toBe('');
  }, 120_000);

  it('exits 1 with LAUNCHER_IMAGE_NOT_FOUND and its hint for an image the engine lacks', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    const io = memoryIo({ cwd: dir.path, env: { ...process.env } });
    const image = `ordo-test/missing-${randomUUID().slice(0, 8)}:0`;
    const code = await main(['run', 'plan.yaml', '--launcher', 'docker', '--image', image], io.io);
    expect(code).toBe(1);
    expect(io.stderr()).toContain('LAUNCHER_IMAGE_NOT_FOUND');
    expect(io.stderr()).toContain('hint: pull or build the worker image first');
  }, 60_000);
});
