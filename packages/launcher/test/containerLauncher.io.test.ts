import { isOrdoError, WorkerStatus } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import type { ContainerLauncherOptions } from '../src/index.js';
import { type FakeEngine, launcherOn, startFakeEngine } from './fakeEngine.js';
import { nextStatus, takeLines } from './helpers.js';

/** A launcher on `fake` with `attachStdio: true`. */
function attachedLauncherOn(fake: FakeEngine, options: Partial<ContainerLauncherOptions> = {}) {
  return launcherOn(fake, { attachStdio: true, ...options });
}

describe('ContainerLauncher attachStdio (against the fake Engine API)', () => {
  it('creates the container with an open stdin and no TTY, and attaches before it starts', async () => {
    await using fake = await startFakeEngine();
    await using launcher = attachedLauncherOn(fake);
    const w1 = await launcher.spawn('w1');
    expect(fake.byWorker('w1').body).toMatchObject({
      OpenStdin: true,
      StdinOnce: false,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const id = w1.containerId;
    const order = fake.calls
      .filter((c) => c.path.startsWith(`/containers/${id}/`))
      .map((c) => `${c.method} ${c.path.slice(`/containers/${id}`.length)}`);
    expect(order.slice(0, 2)).toEqual(['POST /attach', 'POST /start']);
    expect(fake.calls.find((c) => c.path.endsWith('/attach'))?.query.toString()).toBe(
      'stream=1&stdin=1&stdout=1&stderr=1',
    );
    await w1.io?.send('{"v":1}');
    expect(await takeLines(w1.io?.lines(), 1)).toEqual(['{"v":1}']);
  });

  it('a container that dies ends lines(); send then rejects with LAUNCHER_IO_CLOSED', async () => {
    await using fake = await startFakeEngine();
    await using launcher = attachedLauncherOn(fake);
    const w1 = await launcher.spawn('w1');
    const crashed = nextStatus(launcher, 'w1', WorkerStatus.CRASHED);
    await w1.io?.send('last words');
    expect(await takeLines(w1.io?.lines(), 1)).toEqual(['last words']);
    const rest = takeLines(w1.io?.lines(), Number.POSITIVE_INFINITY);
    fake.die(w1.containerId, 2);
    expect(await rest).toEqual([]);
    await crashed;
    const error = await w1.io?.send('too late').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_IO_CLOSED')).toBe(true);
  });

  it('an attach the engine refuses fails the spawn with LAUNCHER_ENGINE_ERROR and removes the container', async () => {
    await using fake = await startFakeEngine();
    await using launcher = attachedLauncherOn(fake, { events: false });
    fake.refuseAttach();
    const error = await launcher.spawn('w1').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_ENGINE_ERROR')).toBe(true);
    expect((error as Error).message).toMatch(/POST \/containers\/\{id\}\/attach with 500: attach refused/);
    expect((error as { details: unknown }).details).toMatchObject({
      status: 500,
      endpoint: 'POST /containers/{id}/attach',
    });
    expect(fake.containers.size).toBe(0);
    expect(fake.count('POST', /\/start$/)).toBe(0);
    expect(launcher.handle('w1')).toBeUndefined();
    fake.refuseAttach(false);
    const w1 = await launcher.spawn('w1'); // the id is free again
    expect(w1.io).toBeDefined();
  });

  it('close() with terminateOnClose: false closes every attach connection but leaves the containers', async () => {
    await using fake = await startFakeEngine();
    const launcher = attachedLauncherOn(fake, { terminateOnClose: false });
    const handles = await Promise.all(['w1', 'w2'].map((id) => launcher.spawn(id)));
    expect(handles.map((h) => fake.byWorker(h.workerId).attach !== undefined)).toEqual([true, true]);
    const reading = takeLines(handles[0]?.io?.lines(), Number.POSITIVE_INFINITY);
    await launcher.close();
    expect(await reading).toEqual([]);
    await expect
      .poll(() => [...fake.containers.values()].filter((c) => c.attach).length, { timeout: 10_000 })
      .toBe(0);
    expect([...fake.containers.values()].map((c) => c.state)).toEqual(['running', 'running']);
  });

  it('refuses a bad attachStdio or maxBufferedLines at construction', async () => {
    await using fake = await startFakeEngine();
    const bad = (options: Partial<ContainerLauncherOptions>) => () => attachedLauncherOn(fake, options);
    expect(bad({ attachStdio: 'yes' as unknown as boolean })).toThrow(
      /"attachStdio" must be true or false, got "yes"/,
    );
    expect(bad({ maxBufferedLines: 0 })).toThrow(/"maxBufferedLines" must be a finite number >= 1, got 0/);
    expect(bad({ maxBufferedLines: Number.NaN })).toThrow(/"maxBufferedLines" must be a finite number/);
  });

  it('adopted workers have no channel', async () => {
    await using fake = await startFakeEngine();
    const first = attachedLauncherOn(fake, { terminateOnClose: false });
    await first.spawn('w1');
    await first.close();
    await using second = attachedLauncherOn(fake);
    const [adopted] = await second.adopt();
    expect(adopted?.workerId).toBe('w1');
    expect(adopted?.io).toBeUndefined();
  });
});
