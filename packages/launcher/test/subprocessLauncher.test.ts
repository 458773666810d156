import { isOrdoError, WorkerStatus, type WorkerStatusChange } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { SubprocessLauncher, writeHeartbeat } from '../src/index.js';
import { nextStatus, tempDir } from './helpers.js';

const bash = (script: string) => ({ args: ['-c', script] });

describe('SubprocessLauncher', () => {
  it('reports a non-zero exit as CRASHED with the code and the last stderr lines', async () => {
    await using launcher = new SubprocessLauncher({ command: 'bash' });
    const changes: WorkerStatusChange[] = [];
    launcher.on('status', (c) => changes.push(c));
    const crashed = nextStatus(launcher, 'w1', WorkerStatus.CRASHED);
    const handle = await launcher.spawn('w1', bash('echo first >&2; echo boom >&2; exit 3'));
    expect(handle.pid).toBeGreaterThan(0);
    const change = await crashed;
    expect(change.reason).toBe('exit code 3; last output: "first | boom"');
    expect(handle).toMatchObject({ status: 'crashed', exitCode: 3, logTail: ['first', 'boom'] });
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.CRASHED);
    expect(changes.map((c) => `${c.from}>${c.to}`)).toEqual(['initializing>ready', 'ready>crashed']);
  });

  it('reports exit 0 as STOPPED and passes ORDO_WORKER_ID, options env and spec env', async () => {
    await using launcher = new SubprocessLauncher({ command: 'bash', env: { A: 'a' } });
    const stopped = nextStatus(launcher, 'w1', WorkerStatus.STOPPED);
    const handle = await launcher.spawn('w1', {
      ...bash('echo "$ORDO_WORKER_ID $A $B"'),
      env: { B: 'b' },
    });
    const lines: string[] = [];
    for await (const line of handle.io.lines()) lines.push(line);
    expect(lines).toEqual(['w1 a b']);
    expect((await stopped).reason).toBe('exit code 0');
    expect(handle.exitCode).toBe(0);
  });

  it('talks to a worker over stdin/stdout lines', async () => {
    await using launcher = new SubprocessLauncher({ command: 'bash' });
    const handle = await launcher.spawn('echo', bash('while read -r line; do echo "got $line"; done'));
    await handle.io.send('{"n":1}');
    await handle.io.send('{"n":2}');
    const lines = handle.io.lines()[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe('got {"n":1}');
    expect((await lines.next()).value).toBe('got {"n":2}');
  });

  it('follows heartbeats: INITIALIZING → READY → RUNNING → IDLE → STALLED, on the clock', async () => {
    await using dir = await tempDir();
    const clock = new ManualClock(1_000_000);
    await using launcher = new SubprocessLauncher({
      command: 'sleep',
      args: ['60'],
      heartbeatDir: dir.path,
      staleAfterMs: 10_000,
      clock,
    });
    const handle = await launcher.spawn('w1');
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.INITIALIZING);
    await writeHeartbeat(dir.path, { workerId: 'w1' }, { clock });
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.READY);
    expect(handle.readyAt).toBe(1_000_000);
    await writeHeartbeat(dir.path, { workerId: 'w1', taskId: 't1' }, { clock });
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.RUNNING);
    await writeHeartbeat(dir.path, { workerId: 'w1' }, { clock });
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.IDLE);
    clock.advance(10_000);
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.IDLE);
    clock.advance(1);
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.STALLED);
    expect(handle.reason).toBe('heartbeat stale for 10s');
    expect(handle.healthCheckAt).toBe(1_010_001);
    await writeHeartbeat(dir.path, { workerId: 'w1' }, { clock });
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.IDLE);
    // One heartbeat monitor for the launcher: the unchanged file was served from its cache.
    expect(launcher.heartbeatStats()).toMatchObject({ stats: 7, reads: 4, cacheHits: 2 });
  });

  it('counts a worker that never beats as STALLED once staleAfterMs has passed since its start', async () => {
    await using dir = await tempDir();
    const clock = new ManualClock(0);
    await using launcher = new SubprocessLauncher({
      command: 'sleep',
      args: ['60'],
      heartbeatDir: dir.path,
      staleAfterMs: 5_000,
      clock,
    });
    await launcher.spawn('w1');
    clock.advance(5_000);
    const states = await launcher.syncState();
    expect(states.get('w1')).toBe(WorkerStatus.INITIALIZING);
    clock.advance(1);
    expect((await launcher.syncState()).get('w1')).toBe(WorkerStatus.STALLED);
    expect(launcher.handle('w1')?.reason).toBe('no heartbeat 5s after start');
  });

  it('terminate sends SIGTERM, then SIGKILL once graceMs has passed on the clock', async () => {
    const clock = new ManualClock(0);
    await using launcher = new SubprocessLauncher({ command: 'bash', clock });
    const handle = await launcher.spawn(
      'stubborn',
      bash('trap "" TERM; echo up; while true; do sleep 0.05; done'),
    );
    const lines = handle.io.lines()[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe('up'); // the trap is set
    const done = launcher.terminate('stubborn', { graceMs: 30_000 });
    expect(handle.status).toBe(WorkerStatus.STOPPING);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(30_000);
    await done;
    expect(handle.status).toBe(WorkerStatus.STOPPED);
    expect(handle.reason).toBe('terminated (killed by SIGKILL)');
  });

  it('terminateAll stops every worker politely', async () => {
    await using launcher = new SubprocessLauncher({ command: 'sleep', args: ['60'] });
    await Promise.all(['a', 'b', 'c'].map((id) => launcher.spawn(id)));
    await launcher.terminateAll();
    expect([...(await launcher.syncState()).values()]).toEqual(['stopped', 'stopped', 'stopped']);
    expect(launcher.handle('a')?.reason).toBe('terminated (killed by SIGTERM)');
  });

  it('rejects a command that cannot start with LAUNCHER_SPAWN_FAILED', async () => {
    await using launcher = new SubprocessLauncher({ command: 'no-such-command-ordo' });
    const error = await launcher.spawn('w1').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_SPAWN_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/no-such-command-ordo.*ENOENT.*exists/);
    expect(launcher.handle('w1')).toBeUndefined();
  });

  it('rejects bad ids, duplicates, unknown workers, bad options and use after close', async () => {
    const launcher = new SubprocessLauncher({ command: 'sleep', args: ['60'] });
    const code = async (p: Promise<unknown>) =>
      ((await p.catch((e: unknown) => e)) as { code?: string }).code;
    expect(await code(launcher.spawn('bad id'))).toBe('LAUNCHER_INVALID_OPTIONS');
    await launcher.spawn('w1');
    expect(await code(launcher.spawn('w1'))).toBe('LAUNCHER_DUPLICATE_WORKER');
    expect(await code(launcher.monitor('nope'))).toBe('LAUNCHER_UNKNOWN_WORKER');
    expect(await code(launcher.terminate('w1', { graceMs: -1 }))).toBe('LAUNCHER_INVALID_OPTIONS');
    expect(() => new SubprocessLauncher({ command: 'x', staleAfterMs: Number.NaN })).toThrow(/staleAfterMs/);
    await launcher.close();
    expect(launcher.handle('w1')?.status).toBe(WorkerStatus.STOPPED);
    expect(await code(launcher.spawn('w2'))).toBe('LAUNCHER_CLOSED');
  });

  it('honours an aborted signal', async () => {
    await using launcher = new SubprocessLauncher({ command: 'sleep', args: ['60'] });
    const reason = new Error('stop');
    await expect(launcher.spawn('w1', {}, AbortSignal.abort(reason))).rejects.toBe(reason);
    await launcher.spawn('w2');
    await expect(launcher.monitor('w2', AbortSignal.abort(reason))).rejects.toBe(reason);
    await expect(launcher.syncState(AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});
