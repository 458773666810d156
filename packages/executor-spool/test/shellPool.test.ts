// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold shell syntax, not templates
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { ManualClock, processAlive, RecordingLogger } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createShellPool } from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir('ordo-shell-test-');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('createShellPool: running commands', () => {
  it('returns stdout, stderr, the exit status and the shell', async () => {
    await using pool = createShellPool({ size: 1 });
    const result = await pool.run('echo out; echo err >&2; exit 3');
    expect(result).toMatchObject({
      stdout: 'out\n',
      stderr: 'err\n',
      exitCode: 3,
      truncated: false,
      shellId: 1,
    });
    expect(await pool.run('printf "no newline"')).toMatchObject({
      stdout: 'no newline',
      stderr: '',
      exitCode: 0,
    });
    expect((await pool.run('true')).stdout).toBe('');
  });

  it('reuses its shells: many commands, one shell per slot', async () => {
    await using pool = createShellPool({ size: 1 });
    for (let i = 0; i < 20; i++) expect((await pool.run(`echo ${i}`)).stdout).toBe(`${i}\n`);
    expect(pool.stats()).toEqual({ size: 1, running: 0, waiting: 0, shellsStarted: 1 });
  });

  it('runs each command in the requested cwd and env, resolved against the pool defaults', async () => {
    await writeFile(join(dir, 'marker.txt'), 'here');
    await using pool = createShellPool({ size: 1, cwd: dir, env: { PATH: process.env.PATH, BASE: 'base' } });
    expect((await pool.run('pwd')).stdout).toBe(`${dir}\n`);
    expect((await pool.run('cat marker.txt', { cwd: '.' })).stdout).toBe('here');
    expect((await pool.run('pwd', { cwd: '/' })).stdout).toBe('/\n');
    const env = await pool.run('printf "%s|%s|%s" "$BASE" "$EXTRA" "${HOME-unset}"', {
      env: { EXTRA: 'it\'s "quoted" $(not run) `nor this` é\nline' },
    });
    expect(env.stdout).toBe(`base|it's "quoted" $(not run) \`nor this\` é\nline|unset`);
    expect((await pool.run('printf "%s" "${BASE-unset}"', { env: { BASE: undefined } })).stdout).toBe(
      'unset',
    );
  });

  it('reports a missing cwd as a failed command', async () => {
    await using pool = createShellPool({ size: 1 });
    const result = await pool.run('echo never', { cwd: join(dir, 'missing') });
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('missing');
  });

  it('passes stdin exactly, and gives an empty stdin otherwise', async () => {
    await using pool = createShellPool({ size: 1 });
    expect((await pool.run('cat', { stdin: 'a\nb' })).stdout).toBe('a\nb');
    expect((await pool.run('wc -c', { stdin: new Uint8Array([0, 1, 2, 255]) })).stdout.trim()).toBe('4');
    expect((await pool.run('cat')).stdout).toBe('');
  });

  it('keeps env values exact, whatever they contain (property)', async () => {
    await using pool = createShellPool({ size: 1 });
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0')),
        async (value) => {
          const { stdout } = await pool.run('printf "%s" "$V"', { env: { V: value } });
          expect(stdout).toBe(Buffer.from(value, 'utf8').toString('utf8'));
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('createShellPool: nothing leaks from one command to the next', () => {
  const leaks: [string, string, string][] = [
    ['cd', 'cd /', 'pwd'],
    ['export', 'export LEAK=1', 'echo "${LEAK-none}"'],
    ['plain variables', 'LEAK=1', 'echo "${LEAK-none}"'],
    ['shell options', 'set -o noglob; set -u', 'echo "$-"; echo /*'],
    ['shopt', 'shopt -s nullglob', 'shopt nullglob'],
    ['functions', 'leak() { echo leaked; }', 'type leak >/dev/null 2>&1 && echo leaked || echo clean'],
    ['aliases', 'shopt -s expand_aliases; alias leak="echo leaked"', 'alias 2>&1; true'],
    ['traps', 'trap "echo leaked" USR1', 'trap -p'],
    ['umask', 'umask 077', 'umask'],
    ['positional parameters', 'set -- a b c', 'echo "$#"'],
  ];

  it.each(leaks)('%s', async (_name, change, probe) => {
    await using pool = createShellPool({ size: 1, cwd: dir });
    const before = await pool.run(probe);
    await pool.run(change);
    const after = await pool.run(probe);
    expect(after.stdout).toBe(before.stdout);
    expect(after.shellId).toBe(before.shellId);
  });
});

describe('createShellPool: sentinels', () => {
  it('output that imitates a sentinel does not end the command', async () => {
    await using pool = createShellPool({ size: 1 });
    const fakes = [
      '\\n__ordo_00000000000000000000000000000000:0\\n',
      '\\n__ordo_:0\\n',
      '__ordo_deadbeef:1\\n',
      '\\n__ordo_%s:7\\n',
    ];
    const script = fakes.map((f) => `printf '${f}'; printf '${f}' >&2`).join('; ');
    const result = await pool.run(`${script}; sleep 0.05; echo after; echo after >&2`);
    expect(result.stdout.endsWith('after\n')).toBe(true);
    expect(result.stderr.endsWith('after\n')).toBe(true);
    expect(result.stdout).toContain('__ordo_00000000000000000000000000000000:0');
    expect(result.exitCode).toBe(0);
  });
});

describe('createShellPool: output caps', () => {
  it('a command printing 50 MB returns truncated and the pool stays usable', async () => {
    await using pool = createShellPool({ size: 1 });
    const result = await pool.run('head -c 50000000 /dev/zero | tr "\\0" x; echo tail >&2');
    expect(result.truncated).toBe(true);
    expect(result.stdout.length).toBe(2 * 1024 * 1024);
    expect(result.stdout).toMatch(/^x+$/);
    expect(result.stderr).toBe('tail\n');
    expect(result.exitCode).toBe(0);
    expect(await pool.run('echo ok')).toMatchObject({
      stdout: 'ok\n',
      truncated: false,
      shellId: result.shellId,
    });
  });

  it('caps stderr on its own and keeps draining both streams', async () => {
    await using pool = createShellPool({ size: 1, maxOutputBytes: 10 });
    const result = await pool.run('head -c 300000 /dev/zero | tr "\\0" e >&2; echo short');
    expect(result).toMatchObject({ stdout: 'short\n', stderr: 'eeeeeeeeee', truncated: true, exitCode: 0 });
  });
});

describe('createShellPool: timeouts, aborts and crashes', () => {
  async function startSleeper(pool: ReturnType<typeof createShellPool>, pids: string, options = {}) {
    const running = pool.run(
      `sleep 30 & echo $! > ${pids}.tmp; sh -c 'echo $$ >> ${pids}.tmp; exec sleep 30'`,
      {
        ...options,
      },
    );
    running.catch(() => {});
    let found: number[] = [];
    await vi.waitFor(
      async () => {
        found = (await readFile(`${pids}.tmp`, 'utf8').catch(() => ''))
          .split('\n')
          .filter(Boolean)
          .map(Number);
        expect(found).toHaveLength(2);
      },
      { timeout: 10_000, interval: 20 },
    );
    return { running, pids: found };
  }

  it('kills the whole process group on timeout, rejects SHELL_TIMEOUT and replaces the shell', async () => {
    const clock = new ManualClock();
    const logger = new RecordingLogger();
    await using pool = createShellPool({ size: 1, clock, timeoutMs: 5_000, logger });
    const first = await pool.run('true');
    const { running, pids } = await startSleeper(pool, join(dir, 'timeout'));
    expect(pids.every(processAlive)).toBe(true);
    clock.advance(4_999);
    expect(pids.every(processAlive)).toBe(true);
    clock.advance(1);
    const error = await rejection(running);
    expect(isOrdoError(error, 'SHELL_TIMEOUT')).toBe(true);
    await vi.waitFor(() => expect(pids.some(processAlive)).toBe(false), { timeout: 10_000, interval: 20 });
    const next = await pool.run('echo fresh');
    expect(next.stdout).toBe('fresh\n');
    expect(next.shellId).not.toBe(first.shellId);
    expect(logger.at('warn').some((r) => r.fields.code === 'SHELL_TIMEOUT')).toBe(true);
  });

  it('a per-run timeoutMs overrides the pool default', async () => {
    const clock = new ManualClock();
    await using pool = createShellPool({ size: 1, clock, timeoutMs: 60_000 });
    const running = pool.run('sleep 30', { timeoutMs: 10 });
    await vi.waitFor(() => expect(clock.pendingTimers).toBe(1));
    clock.advance(10);
    expect(isOrdoError(await rejection(running), 'SHELL_TIMEOUT')).toBe(true);
  });

  it('kills the process group on abort and rejects SHELL_ABORTED with the reason as cause', async () => {
    await using pool = createShellPool({ size: 1 });
    const controller = new AbortController();
    const { running, pids } = await startSleeper(pool, join(dir, 'abort'), { signal: controller.signal });
    controller.abort(new Error('stop'));
    const error = await rejection(running);
    expect(isOrdoError(error, 'SHELL_ABORTED')).toBe(true);
    expect((error as Error).cause).toEqual(new Error('stop'));
    await vi.waitFor(() => expect(pids.some(processAlive)).toBe(false), { timeout: 10_000, interval: 20 });
    expect((await pool.run('echo ok')).stdout).toBe('ok\n');
  });

  it('rejects with signal.reason when aborted before it starts or while it waits', async () => {
    await using pool = createShellPool({ size: 1 });
    const reason = new Error('not now');
    await expect(pool.run('echo x', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    const blocker = pool.run('sleep 0.2');
    const controller = new AbortController();
    const waiting = pool.run('echo never', { signal: controller.signal });
    expect(pool.stats().waiting).toBe(1);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(pool.stats().waiting).toBe(0);
    expect((await blocker).exitCode).toBe(0);
  });

  it('rejects SHELL_CRASHED when the shell dies, and runs the next command in a new shell', async () => {
    await using pool = createShellPool({ size: 1 });
    const first = await pool.run('true');
    const error = await rejection(pool.run('echo partial; kill -9 $$'));
    expect(isOrdoError(error, 'SHELL_CRASHED')).toBe(true);
    const next = await pool.run('echo alive');
    expect(next.stdout).toBe('alive\n');
    expect(next.shellId).toBeGreaterThan(first.shellId);
  });

  it('rejects SHELL_CRASHED when the shell cannot start', async () => {
    await using pool = createShellPool({ size: 1, shell: join(dir, 'no-such-bash') });
    expect(isOrdoError(await rejection(pool.run('true')), 'SHELL_CRASHED')).toBe(true);
  });
});

describe('createShellPool: slots and queueing', () => {
  it('8 `sleep 0.3` commands on 4 slots run 4 at a time, not one by one', async () => {
    await using pool = createShellPool({ size: 4 });
    await Promise.all([1, 2, 3, 4].map(() => pool.run('true')));
    const stamp = 'date +%s%N';
    const runs = Array.from({ length: 8 }, () => pool.run(`${stamp}; sleep 0.3; ${stamp}`));
    expect(pool.stats()).toMatchObject({ running: 4, waiting: 4 });
    const results = await Promise.all(runs);
    const spans = results.map((r) => r.stdout.trim().split('\n').map(BigInt) as [bigint, bigint]);
    const overlap = (at: bigint) => spans.filter(([start, end]) => start <= at && at < end).length;
    const peak = Math.max(...spans.map(([start]) => overlap(start)));
    expect(peak).toBeGreaterThanOrEqual(2);
    expect(peak).toBeLessThanOrEqual(4);
    expect(new Set(results.map((r) => r.shellId)).size).toBe(4);
    expect(pool.stats().shellsStarted).toBe(4);
  });

  it('serves waiting commands first come, first served', async () => {
    await using pool = createShellPool({ size: 1 });
    const log = join(dir, 'fifo.log');
    await pool.run(`: > ${log}`);
    const runs = Array.from({ length: 6 }, (_, i) => pool.run(`echo ${i} >> ${log}`));
    await Promise.all(runs);
    expect(await readFile(log, 'utf8')).toBe('0\n1\n2\n3\n4\n5\n');
  });

  it('close() rejects waiting and running commands with SHELL_CLOSED and refuses new ones', async () => {
    const pool = createShellPool({ size: 1 });
    const running = rejection(pool.run('sleep 30'));
    const waiting = rejection(pool.run('echo never'));
    await vi.waitFor(() => expect(pool.stats().running).toBe(1));
    await pool.close();
    const errors = await Promise.all([running, waiting, rejection(pool.run('true'))]);
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual([
      'SHELL_CLOSED',
      'SHELL_CLOSED',
      'SHELL_CLOSED',
    ]);
    await pool.close();
  });
});

describe('createShellPool: allowlist and bad input', () => {
  it('refuses a command outside the allowlist before running anything', async () => {
    await using pool = createShellPool({ size: 1, cwd: dir, allow: ['echo', 'touch'] });
    const error = await rejection(pool.run('touch made-by-rm; rm -f made-by-rm'));
    expect(isOrdoError(error, 'SHELL_NOT_ALLOWED')).toBe(true);
    expect((error as { details: { word: string } }).details.word).toBe(';');
    expect(isOrdoError(await rejection(pool.run('rm -rf x')), 'SHELL_NOT_ALLOWED')).toBe(true);
    expect(pool.stats().shellsStarted).toBe(0);
    expect((await pool.run('echo "fine; really"')).stdout).toBe('fine; really\n');
  });

  it('with allowCompound, checks every command word of a pipeline', async () => {
    await using pool = createShellPool({ size: 1, allow: ['echo', 'tr'], allowCompound: true });
    expect((await pool.run('echo abc | tr a-z A-Z')).stdout).toBe('ABC\n');
    const error = await rejection(pool.run('echo abc | sh'));
    expect((error as { details: { word: string } }).details.word).toBe('sh');
  });

  it.each([
    ['size', { size: 0 }],
    ['maxOutputBytes', { maxOutputBytes: -1 }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['allow', { allow: ['ls -la'] }],
    ['allow', { allow: ['eval'] }],
  ])('refuses a bad %s', (option, options) => {
    expect(() => createShellPool(options)).toThrowError(
      expect.objectContaining({ code: 'SHELL_INVALID_OPTION', details: { option } }),
    );
  });

  it('refuses bad run options and NUL bytes', async () => {
    await using pool = createShellPool({ size: 1 });
    const codes = await Promise.all(
      [
        pool.run('echo', { env: { 'BAD-NAME': 'x' } }),
        pool.run('echo', { env: { V: 'a\0b' } }),
        pool.run('echo', { timeoutMs: -5 }),
        pool.run('echo a\0b'),
      ].map(async (p) => ((await rejection(p)) as { code: string }).code),
    );
    expect(codes).toEqual([
      'SHELL_INVALID_OPTION',
      'SHELL_INVALID_OPTION',
      'SHELL_INVALID_OPTION',
      'SHELL_NOT_ALLOWED',
    ]);
  });
});
