import { isOrdoError } from '@ordo/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SwarmLauncher } from '../src/index.js';
import { assertNoSecretInEnv, prepareSecrets, secretName, serviceName } from '../src/internal/swarmSpec.js';
import { latestTasks, type SwarmTask, taskFinished, taskVerdict } from '../src/internal/swarmTasks.js';

// What Swarm itself accepts (swarmkit's checks), to hold the launcher's names to.
const SWARM_SERVICE_NAME = /^[A-Za-z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
const SWARM_SECRET_NAME = /^[A-Za-z0-9]+(?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const id = (max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,${max - 1}}$`));

describe('Swarm names', () => {
  it('every run id and worker id give a service name Swarm accepts, distinct per worker', () => {
    fc.assert(
      fc.property(id(64), id(128), id(128), (runId, a, b) => {
        const name = serviceName(runId, a);
        expect(name.length).toBeLessThanOrEqual(63);
        expect(name).toMatch(SWARM_SERVICE_NAME);
        if (a !== b) expect(serviceName(runId, b)).not.toBe(name);
      }),
    );
  });

  it('keeps the readable name when Swarm accepts it', () => {
    expect(serviceName('run1', 'w1')).toBe('ordo-run1-w1');
    expect(serviceName('run1', 'w.1')).toMatch(/^ordo-[0-9a-f]{24}$/);
    expect(secretName('run1', 'token.json')).toBe('ordo-run1-token.json');
  });

  it('every run id and secret name give a secret name Swarm accepts', () => {
    fc.assert(
      fc.property(id(64), id(64), (runId, name) => {
        const secret = secretName(runId, name);
        expect(secret.length).toBeLessThanOrEqual(64);
        expect(secret).toMatch(SWARM_SECRET_NAME);
      }),
    );
  });
});

describe('secrets option', () => {
  it('refuses bad names, duplicates, empty or oversized data, bad variable names', () => {
    const bad: unknown[] = [
      'not an array',
      [{ name: '../etc/passwd', data: 'x' }],
      [{ name: '..', data: 'x' }],
      [{ name: 'a/b', data: 'x' }],
      [{ name: '', data: 'x' }],
      [{ name: 'a', data: '' }],
      [{ name: 'a', data: 42 }],
      [{ name: 'a', data: Buffer.alloc(500 * 1024 + 1) }],
      [
        { name: 'a', data: 'x' },
        { name: 'a', data: 'y' },
      ],
      [{ name: 'a', data: 'x', env: 'NOT-A-VAR' }],
      [
        { name: 'a', data: 'x', env: 'T' },
        { name: 'b', data: 'y', env: 'T' },
      ],
      [null],
    ];
    for (const secrets of bad) {
      let thrown: unknown;
      try {
        prepareSecrets(secrets);
      } catch (error) {
        thrown = error;
      }
      expect(isOrdoError(thrown, 'LAUNCHER_INVALID_OPTIONS'), JSON.stringify(secrets)).toBe(true);
    }
    expect(() => new SwarmLauncher({ image: 'x', secrets: bad[1] as never })).toThrow(/secrets\[0\]\.name/);
  });

  it('takes text and bytes, and gives each its path under /run/secrets', () => {
    const [text, bytes] = prepareSecrets([
      { name: 'tok', data: 'héllo', env: 'ORDO_WORKER_TOKEN_FILE' },
      { name: 'key.bin', data: new Uint8Array([0, 1, 2]) },
    ]);
    expect(text).toMatchObject({ path: '/run/secrets/tok', env: 'ORDO_WORKER_TOKEN_FILE' });
    expect(text?.bytes.toString('utf8')).toBe('héllo');
    expect([...(bytes?.bytes ?? [])]).toEqual([0, 1, 2]);
  });

  it('refuses any environment value that contains a secret, wherever it sits in the value', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 4 }), fc.string(), fc.string(), (data, before, after) => {
        const secrets = prepareSecrets([{ name: 's', data }]);
        expect(() => assertNoSecretInEnv({ V: `${before}${data}${after}` }, secrets)).toThrow(/secret "s"/);
      }),
    );
    expect(() =>
      assertNoSecretInEnv({ V: 'other' }, prepareSecrets([{ name: 's', data: 'secret' }])),
    ).not.toThrow();
    // A token file's trailing newline does not hide the token in an environment value.
    expect(() =>
      assertNoSecretInEnv({ TOKEN: 'tok-1234' }, prepareSecrets([{ name: 's', data: 'tok-1234\n' }])),
    ).toThrow(/secret "s"/);
  });
});

describe('task states', () => {
  const task = (State: string, extra: Partial<SwarmTask> = {}): SwarmTask => ({
    ID: 't',
    ServiceID: 's',
    Status: { State, ContainerStatus: { ExitCode: 3 } },
    ...extra,
  });

  it('maps every Swarm task state onto a worker verdict', () => {
    const kinds = Object.fromEntries(
      [
        'new',
        'allocated',
        'pending',
        'assigned',
        'accepted',
        'preparing',
        'ready',
        'starting',
        'running',
        'complete',
        'failed',
        'shutdown',
        'rejected',
        'orphaned',
        'remove',
      ].map((state) => [state, taskVerdict(task(state), 'vm').kind]),
    );
    expect(kinds).toEqual({
      new: 'starting',
      allocated: 'starting',
      pending: 'starting',
      assigned: 'starting',
      accepted: 'starting',
      preparing: 'starting',
      ready: 'starting',
      starting: 'starting',
      running: 'running',
      complete: 'exited',
      failed: 'exited',
      shutdown: 'lost',
      rejected: 'lost',
      orphaned: 'lost',
      remove: 'lost',
    });
    expect(taskVerdict(task('failed'), 'vm')).toMatchObject({ exitCode: 3 });
    expect(taskVerdict(task('orphaned', { NodeID: 'n1' }), 'worker-7')).toMatchObject({
      detail: expect.stringMatching(/node worker-7 is unreachable/),
    });
    expect(
      taskVerdict(task('rejected', { Status: { State: 'rejected', Err: 'No such image' } }), undefined),
    ).toMatchObject({ detail: 'Swarm rejected the task: No such image' });
  });

  it('an unknown or missing state is never a death, and never counts as finished', () => {
    fc.assert(
      fc.property(fc.string(), (state) => {
        fc.pre(
          !['running', 'complete', 'failed', 'shutdown', 'rejected', 'orphaned', 'remove'].includes(state),
        );
        expect(taskVerdict(task(state), undefined).kind).toBe('starting');
        expect(taskFinished(task(state))).toBe(false);
      }),
    );
    expect(taskVerdict({ ID: 't' }, undefined).kind).toBe('starting');
  });

  it('keeps the newest task of each service', () => {
    const tasks: SwarmTask[] = [
      { ID: 'old', ServiceID: 'a', Version: { Index: 3 } },
      { ID: 'new', ServiceID: 'a', Version: { Index: 9 } },
      { ID: 'b1', ServiceID: 'b', Version: { Index: 1 } },
      { ID: 'orphan' },
    ];
    const latest = latestTasks(tasks);
    expect([...latest].map(([service, t]) => [service, t.ID])).toEqual([
      ['a', 'new'],
      ['b', 'b1'],
    ]);
  });
});
