import { isOrdoError, WorkerStatus } from '@ordo/contracts';
import { expect, it } from 'vitest';
import {
  ContainerLauncher,
  type ContainerLauncherOptions,
  type ContainerWorkerHandle,
  type WorkerStderrLine,
} from '../src/index.js';
import { nextStatus, takeLines } from './helpers.js';
import {
  describeOnRealEngine,
  docker,
  engine,
  IMAGE,
  removeTestContainers,
  warnIfSkipped,
} from './realEngine.js';

// `attachStdio` against a real Docker engine (see realEngine.ts); the framing itself is unit-tested in
// attachStream.test.ts and the channel against a scripted HTTP engine in attachedIo.test.ts.
const TEST_LABEL = { 'ordo.test': 'launcher-io' };
warnIfSkipped('the attachStdio tests on a real Docker engine');

function launcher(options: Partial<ContainerLauncherOptions> = {}): ContainerLauncher {
  return new ContainerLauncher({
    docker: docker ?? { socketPath: '/nonexistent' },
    image: IMAGE,
    labels: TEST_LABEL,
    attachStdio: true,
    ...options,
  });
}

/** Every line of `handle.io` until it ends. */
async function readAll(handle: ContainerWorkerHandle): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of handle.io?.lines() ?? []) lines.push(line);
  return lines;
}

/** Counts of the kinds of resources that keep the process alive, e.g. `{ PipeWrap: 3 }`. */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/**
 * The live handles (sockets, servers) themselves. Node's undocumented `_getActiveHandles` gives their
 * identity, so handles the shared test client closes meanwhile cannot hide one the launcher left open.
 */
function activeHandles(): Set<unknown> {
  return new Set((process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles());
}

describeOnRealEngine('ContainerLauncher attachStdio on a real Docker engine', TEST_LABEL['ordo.test'], () => {
  it('echoes 1,000 JSON lines through `cat`, in order, and counts one attach per worker', async () => {
    await using workers = launcher({ cmd: ['cat'] });
    const w1 = await workers.spawn('w1');
    const sent = Array.from({ length: 1000 }, (_, seq) => JSON.stringify({ v: 1, seq, text: 'héllo ✓ 😀' }));
    const reading = takeLines(w1.io?.lines(), sent.length);
    for (const line of sent) await w1.io?.send(line);
    expect(await reading).toEqual(sent);
    expect(workers.apiCalls()['POST /containers/{id}/attach']).toBe(1);
    await workers.terminateAll({ graceMs: 0 }); // `cat` as pid 1 ignores SIGTERM: skip the grace
  });

  it('carries a line of 200 KiB both ways, and one printed by the worker itself', async () => {
    await using workers = launcher({
      cmd: ['sh', '-c', 'head -c 100000 /dev/zero | tr "\\000" y; echo; exec cat'],
    });
    const w1 = await workers.spawn('w1');
    const long = `${'é'.repeat(50_000)}${'x'.repeat(100_000)}`; // 200,000 bytes of UTF-8
    await w1.io?.send(long);
    await w1.io?.send('after');
    expect(await takeLines(w1.io?.lines(), 3)).toEqual(['y'.repeat(100_000), long, 'after']);
    await workers.terminateAll({ graceMs: 0 });
  });

  it('keeps stderr out of lines(): it goes to `stderr` events; lines() ends with the last line without newline', async () => {
    await using workers = launcher({
      cmd: ['sh', '-c', 'echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf "last, no newline"'],
    });
    const stderr: WorkerStderrLine[] = [];
    workers.on('stderr', (line) => stderr.push(line));
    const w1 = await workers.spawn('w1');
    expect(await readAll(w1)).toEqual(['out1', 'out2', 'last, no newline']);
    expect(stderr).toEqual([
      { workerId: 'w1', line: 'err1' },
      { workerId: 'w1', line: 'err2' },
    ]);
  });

  it('lines() ends when the container exits; send then rejects with LAUNCHER_IO_CLOSED', async () => {
    await using workers = launcher({ cmd: ['head', '-n', '2'] });
    const stopped = nextStatus(workers, 'w1', WorkerStatus.STOPPED, 60_000);
    const w1 = await workers.spawn('w1');
    const reading = readAll(w1);
    await w1.io?.send('one');
    await w1.io?.send('two');
    expect(await reading).toEqual(['one', 'two']);
    expect((await stopped).reason).toBe('exited with code 0');
    const error = await w1.io?.send('three').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_IO_CLOSED')).toBe(true);
  });

  it('terminate while a reader waits ends the reader, and send rejects after', async () => {
    await using workers = launcher({ cmd: ['cat'] });
    const w1 = await workers.spawn('w1');
    await w1.io?.send('before');
    const reading = readAll(w1);
    await workers.terminate('w1', { graceMs: 0 });
    expect(await reading).toEqual(['before']);
    expect(w1.status).toBe(WorkerStatus.STOPPED);
    await expect(w1.io?.send('after')).rejects.toMatchObject({ code: 'LAUNCHER_IO_CLOSED' });
  });

  it('close() leaves no handle open, also with terminateOnClose: false', async () => {
    for (const terminateOnClose of [true, false]) {
      const resourcesBefore = activeResources();
      const handlesBefore = activeHandles();
      const workers = launcher({ cmd: ['cat'], terminateOnClose });
      const w1 = await workers.spawn('w1');
      await w1.io?.send('hi');
      expect(await takeLines(w1.io?.lines(), 1)).toEqual(['hi']);
      expect(activeHandles().size).toBeGreaterThan(handlesBefore.size); // the attach socket, at least
      const rest = readAll(w1); // waiting when close() comes
      await workers.close();
      expect(await rest).toEqual([]);
      expect([...activeHandles()].filter((h) => !handlesBefore.has(h))).toEqual([]);
      for (const [kind, count] of Object.entries(activeResources())) {
        if (kind !== 'Timeout' && kind !== 'Immediate')
          expect(count, kind).toBeLessThanOrEqual(resourcesBefore[kind] ?? 0);
      }
    }
    await removeTestContainers(TEST_LABEL['ordo.test']); // the worker left running above
  });

  it('without attachStdio a handle has no io, and the container has no open stdin', async () => {
    await using workers = launcher({ cmd: ['cat'], attachStdio: false });
    const w1 = await workers.spawn('w1');
    expect(w1.io).toBeUndefined();
    const inspect = await engine?.request({
      method: 'GET',
      path: `/containers/${w1.containerId}/json`,
      endpoint: 'inspect',
    });
    expect(inspect?.json<{ Config: { OpenStdin: boolean } }>().Config.OpenStdin).toBe(false);
    // `cat` on a closed stdin exits at once: stopped, not crashed.
    await expect
      .poll(async () => (await workers.syncState()).get('w1'), { timeout: 30_000 })
      .toBe(WorkerStatus.STOPPED);
  });
});
