import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { heapSizeLimitFor, processAlive } from '@ordo/contracts/testing';
import { SubprocessLauncher } from '@ordo/launcher';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createRuntime, type FeatureEvent, parsePlan } from '../src/index.js';
import { waitForPid } from './helpers/files.js';
import { fixture, readTree, tempWorkspace } from './helpers/workspace.js';

const tasks = fixture('tasks.mjs');
const MiB = 1024 * 1024;

/** Waits (polling, up to 10 s) until `predicate` holds; for outcomes of real processes. */
async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !predicate(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(predicate()).toBe(true);
}

/** The worker ids of the task-start events, by task id. */
function workersOf(events: readonly FeatureEvent[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of events) if (e.type === 'task-start') out[e.taskId] = e.workerId;
  return out;
}

describe("the runtime's workers come from the governance pool", () => {
  it('caps each worker heap at config.workers.heapMb', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({
      workspace: ws,
      workers: 1,
      config: { workers: { heapMb: 80 } },
    });
    const result = await runtime.runFeature({
      feature: 'heap',
      tasks: [
        {
          id: 'h',
          files: ['heap.txt'],
          run: { module: tasks, export: 'heapLimit', input: { path: 'heap.txt' } },
        },
      ],
    });
    expect(result.status).toBe('succeeded');
    const [limit, pid] = (await readTree(ws))['heap.txt']?.trim().split(' ').map(Number) ?? [];
    expect(pid).not.toBe(process.pid);
    // heap_size_limit is the old space (the cap) plus a young generation whose size depends on the Node version.
    expect(limit).toBeGreaterThanOrEqual(80 * MiB);
    expect(limit).toBe(heapSizeLimitFor(80));
  });

  it('fails an allocating task with WORKER_OOM and finishes the run on a replacement worker', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({
      workspace: ws,
      workers: 1,
      config: { workers: { heapMb: 32 } },
    });
    const events: FeatureEvent[] = [];
    const result = await runtime.runFeature(
      {
        feature: 'oom',
        tasks: [
          { id: 'hog', priority: 'HIGH', files: [], run: { module: tasks, export: 'allocate' } },
          { id: 'after', files: ['after.txt'], run: { shell: 'echo after > after.txt' } },
        ],
      },
      { onEvent: (e) => events.push(e) },
    );
    const hog = result.tasks.find((t) => t.id === 'hog');
    expect(hog).toMatchObject({ status: 'failed', error: { code: 'WORKER_OOM' } });
    expect(hog?.error?.message).toMatch(/out of heap \(--max-old-space-size=32\)/);
    expect(result.tasks.find((t) => t.id === 'after')?.status).toBe('committed');
    const workers = workersOf(events);
    expect(workers.after).not.toBe(workers.hog);
    expect(await readTree(ws)).toEqual({ 'after.txt': 'after\n' });
    expect(await runtime.metricsText()).toMatch(/ordo_runtime_worker_crashes_total 1/);
  }, 60_000); // two worker starts through tsx (the replacement included): slow on a loaded machine

  it('catches a task that blocks its event loop as TASK_STALLED with no timeoutMs, kills and replaces its worker', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({
      workspace: ws,
      workers: 1,
      config: { workers: { stallTimeoutMs: 1_500 } },
    });
    const events: FeatureEvent[] = [];
    const result = await runtime.runFeature(
      {
        feature: 'stall',
        tasks: [
          { id: 'spin', priority: 'HIGH', files: [], run: { module: tasks, export: 'block' } },
          { id: 'after', files: ['after.txt'], run: { shell: 'echo after > after.txt' } },
          // Busy for longer than the stall limit, but its event loop turns: heartbeats keep it alive.
          {
            id: 'slow',
            priority: 'LOW',
            files: ['slow.txt'],
            run: { module: tasks, export: 'combine', input: { path: 'slow.txt', delayMs: 2_500 } },
          },
        ],
      },
      { onEvent: (e) => events.push(e) },
    );
    const spin = result.tasks.find((t) => t.id === 'spin');
    expect(spin).toMatchObject({ status: 'failed', error: { code: 'TASK_STALLED' } });
    expect(spin?.error?.message).toMatch(/no heartbeat/);
    expect(result.tasks.find((t) => t.id === 'after')?.status).toBe('committed');
    expect(result.tasks.find((t) => t.id === 'slow')?.status).toBe('committed');
    const workers = workersOf(events);
    expect(workers.after).not.toBe(workers.spin);
    expect(await runtime.metricsText()).toMatch(/ordo_runtime_worker_crashes_total 1/);
  }, 60_000); // two worker starts through tsx (the replacement included): slow on a loaded machine

  it('kills the whole process group of a stalled worker: what its task started dies with it', async () => {
    const ws = await tempWorkspace();
    const pidFile = path.join(await tempDir('ordo-stall-pid-'), 'pid');
    await using runtime = await createRuntime({
      workspace: ws,
      workers: 1,
      config: { workers: { stallTimeoutMs: 1_000 } },
    });
    const result = await runtime.runFeature({
      feature: 'stall-group',
      tasks: [
        { id: 'spin', files: [], run: { module: tasks, export: 'spawnThenBlock', input: { pidFile } } },
      ],
    });
    expect(result.tasks[0]).toMatchObject({ status: 'failed', error: { code: 'TASK_STALLED' } });
    const grandchild = await waitForPid(pidFile);
    await until(() => !processAlive(grandchild));
  }, 60_000); // a worker start through tsx, a stall limit and a group kill: slow on a loaded machine

  it('enforces config.workers.maxRestartsPerHour: past it, tasks fail with POOL_RESTART_BUDGET', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({
      workspace: ws,
      workers: 1,
      config: { workers: { maxRestartsPerHour: 1 } },
    });
    const crash = (id: string, priority: 'CRITICAL' | 'HIGH') => ({
      id,
      priority,
      files: [],
      run: { module: tasks, export: 'exitWorker' },
    });
    // One worker, by priority: c1 crashes it (the one restart allowed), c2 crashes its replacement, and
    // then the pool is degraded and starts no third worker.
    const result = await runtime.runFeature({
      feature: 'budget',
      tasks: [
        crash('c1', 'CRITICAL'),
        crash('c2', 'HIGH'),
        { id: 'late', priority: 'LOW', files: ['late.txt'], run: { shell: 'echo late > late.txt' } },
      ],
    });
    const byId = Object.fromEntries(result.tasks.map((t) => [t.id, t]));
    expect(byId.c1).toMatchObject({ status: 'failed', error: { code: 'WORKER_CRASHED' } });
    expect(byId.c2).toMatchObject({ status: 'failed', error: { code: 'WORKER_CRASHED' } });
    expect(byId.late).toMatchObject({ status: 'failed', error: { code: 'POOL_RESTART_BUDGET' } });
    expect(await readTree(ws)).toEqual({});
  }, 60_000); // two worker starts through tsx (the replacement included): slow on a loaded machine
});

describe('preemptable tasks', () => {
  const base = { feature: 'p', tasks: [{ id: 'a', files: [], run: { shell: 'true' } }] };

  it('are marked in the plan; an unmarked plan keeps its digest', () => {
    const plain = parsePlan(base);
    const marked = parsePlan({ ...base, tasks: [{ ...base.tasks[0], preemptable: true }] } as never);
    const unmarked = parsePlan({ ...base, tasks: [{ ...base.tasks[0], preemptable: false }] } as never);
    expect(marked.tasks[0]?.preemptable).toBe(true);
    expect(plain.tasks[0]).not.toHaveProperty('preemptable');
    expect(unmarked.digest).toBe(plain.digest);
    expect(marked.digest).not.toBe(plain.digest);
  });

  it('refuse a preemptable that is not a boolean with PLAN_INVALID', () => {
    expect(() => parsePlan({ ...base, tasks: [{ ...base.tasks[0], preemptable: 'yes' }] } as never)).toThrow(
      expect.objectContaining({
        code: 'PLAN_INVALID',
        issues: [
          expect.objectContaining({ path: 'tasks[0].preemptable', message: 'expected true or false' }),
        ],
      }),
    );
  });
});

describe('the worker handshake on a launcher', () => {
  it.each([
    ['{"type":"READY","v":"1","pid":7}', '"1"'],
    ['{"type":"READY","v":2,"pid":7}', '2'],
    ['{"type":"READY","pid":7}', 'undefined (none announced)'],
  ])('%s fails the run with IPC_VERSION_MISMATCH at once, never a startup timeout', async (line, got) => {
    const ws = await tempWorkspace();
    const script = path.join(await tempDir('ordo-bad-worker-'), 'worker.mjs');
    // Announces the wrong version, then waits (for stdin to end) like a real worker.
    await writeFile(script, `console.log(${JSON.stringify(line)}); process.stdin.resume();\n`);
    const launcher = new SubprocessLauncher({ command: process.execPath, args: [script], cwd: ws });
    await using runtime = await createRuntime({
      workspace: ws,
      workers: 1,
      launcher,
      config: { workers: { maxRestartsPerHour: 0 } },
    });
    await expect(
      runtime.runFeature({ feature: 'v', tasks: [{ id: 'a', files: [], run: { shell: 'true' } }] }),
    ).rejects.toMatchObject({ code: 'IPC_VERSION_MISMATCH', details: { workerId: 'w1', got } });
    expect(await readTree(ws)).toEqual({});
  });
});
