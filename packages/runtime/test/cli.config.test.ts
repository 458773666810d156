import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { memoryIo, STACK_LINE, tempDir } from './support/memoryIo.js';

async function configCheck(argv: string[], cwd: string, env: Record<string, string> = {}) {
  const io = memoryIo({ cwd, env });
  const code = await main(['config', 'check', ...argv], io.io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

describe('ordo config check', () => {
  it('accepts a valid file and names it, exit 0', async () => {
    await using dir = await tempDir();
    await writeFile(join(dir.path, 'custom.yaml'), 'workers:\n  max: 4\nqueue:\n  maxDepth: 9\n');
    const { code, stdout, stderr } = await configCheck(['custom.yaml'], dir.path);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toContain(`✓ config OK: ${join(dir.path, 'custom.yaml')}`);
    expect(stdout).toContain('workers.max=4');
    expect(stdout).toContain('queue.maxDepth=9');
  });

  it('reads ordo.yaml from the working directory when no file is given', async () => {
    await using dir = await tempDir();
    await writeFile(join(dir.path, 'ordo.yaml'), 'workers:\n  max: 3\n');
    const { code, stdout } = await configCheck([], dir.path);
    expect(code).toBe(0);
    expect(stdout).toContain('workers.max=3');
  });

  it('checks the defaults and the environment when there is no file', async () => {
    await using dir = await tempDir();
    const { code, stdout } = await configCheck([], dir.path, { ORDO_WORKERS__MAX: '6' });
    expect(code).toBe(0);
    expect(stdout).toContain('config OK: the defaults and the environment');
    expect(stdout).toContain('workers.max=6');
  });

  it('prints the resolved config as JSON with --json', async () => {
    await using dir = await tempDir();
    const { code, stdout } = await configCheck(['--json'], dir.path, { ORDO_QUEUE__MAX_DEPTH: '11' });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ queue: { maxDepth: 11 }, workers: { max: 2 } });
  });

  it('lists every bad key with its path, value, source and a did-you-mean; exit 1, no stack', async () => {
    await using dir = await tempDir();
    await writeFile(join(dir.path, 'ordo.yaml'), 'workers:\n  max: 0\nqueu:\n  maxDepth: 5\n');
    const { code, stdout, stderr } = await configCheck(['ordo.yaml'], dir.path);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error CONFIG_INVALID: Configuration is invalid \(2 problems\)/);
    expect(stderr).toContain(`- workers.max = 0 (from ${join(dir.path, 'ordo.yaml')}:2)`);
    expect(stderr).toMatch(/- queu = .*did you mean "?queue"?/);
    expect(stderr).toContain('hint: fix the keys listed above; `ordo config check <file>`');
    expect(stderr).not.toMatch(STACK_LINE);
  });

  it('names the environment variable of a bad override', async () => {
    await using dir = await tempDir();
    const { code, stderr } = await configCheck([], dir.path, { ORDO_WORKERS__MAX: 'lots' });
    expect(code).toBe(1);
    expect(stderr).toContain('error CONFIG_INVALID');
    expect(stderr).toContain('env ORDO_WORKERS__MAX');
  });

  it('refuses a file that is not YAML', async () => {
    await using dir = await tempDir();
    await writeFile(join(dir.path, 'broken.yaml'), 'workers: [1, 2\n');
    const { code, stderr } = await configCheck(['broken.yaml'], dir.path);
    expect(code).toBe(1);
    expect(stderr).toContain('error CONFIG_INVALID');
    expect(stderr).toContain('valid YAML');
  });

  it('exits 1 with CONFIG_UNREADABLE for a missing file, and shows the stack only with --verbose', async () => {
    await using dir = await tempDir();
    const quiet = await configCheck(['nope.yaml'], dir.path);
    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toMatch(/^error CONFIG_UNREADABLE: Cannot read configuration file .*nope\.yaml/);
    expect(quiet.stderr).not.toMatch(STACK_LINE);

    const io = memoryIo({ cwd: dir.path });
    expect(await main(['config', 'check', 'nope.yaml', '--verbose'], io.io)).toBe(1);
    expect(io.stderr()).toMatch(STACK_LINE);
    expect(io.stderr()).toContain('caused by: Error: ENOENT');
  });
});
