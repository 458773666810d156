import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TRACE_VERSION, type Trace, verifyTrace } from '@ordo/kernel-scheduler';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { createRuntime } from '../src/index.js';
import { memoryIo, tempDir } from './support/memoryIo.js';
import { startOrdo } from './support/ordoProcess.js';
import { THREE_TASKS, writeFiles } from './support/planWorkspace.js';

// Real subprocess workers (bash) against temp workspaces; `ordo` in-process through main(), and once as
// a real child process.

const traceOf = (dir: string, feature = 'demo') => join(dir, '.ordo', 'traces', `${feature}.json`);

async function runDemo(dir: string): Promise<void> {
  await writeFiles(dir, { 'plan.yaml': THREE_TASKS });
  const io = memoryIo({ cwd: dir });
  expect(await main(['run', 'plan.yaml', '--workers', '2'], io.io)).toBe(0);
}

/** Changes one hex digit of `entries[seq].resultDigest` in the stored trace. */
async function flipDigest(file: string, seq: number): Promise<string> {
  const trace = JSON.parse(await readFile(file, 'utf8')) as Trace;
  const entry = trace.entries[seq] as { resultDigest: string; id: string };
  const last = entry.resultDigest.at(-1) === '0' ? '1' : '0';
  (entry as { resultDigest: string }).resultDigest = `${entry.resultDigest.slice(0, -1)}${last}`;
  await writeFile(file, JSON.stringify(trace));
  return entry.id;
}

describe('the stored feature trace', { timeout: 60_000 }, () => {
  it('is a kernel-scheduler trace: verifyTrace accepts it and its digest is the result digest', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    await using runtime = await createRuntime({ workspace: dir.path, workers: 2 });
    const result = await runtime.runFeature('plan.yaml');
    expect(result.status).toBe('succeeded');
    const stored = JSON.parse(await readFile(traceOf(dir.path), 'utf8')) as Trace;
    expect(stored.version).toBe(TRACE_VERSION);
    expect(stored.options.mode).toBe('graph');
    expect(stored.order).toEqual(result.tasks.map((t) => t.id));
    expect(verifyTrace(stored)).toEqual({ ok: true, digest: result.traceDigest });
  });

  it('replay through runFeature names a changed task and stores nothing new', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    await using runtime = await createRuntime({ workspace: dir.path, workers: 2 });
    await runtime.runFeature('plan.yaml');
    const stored = JSON.parse(await readFile(traceOf(dir.path), 'utf8')) as Trace;
    await using copy = await tempDir();
    await writeFiles(copy.path, {});
    await using other = await createRuntime({ workspace: copy.path, workers: 2 });
    const changed = THREE_TASKS.replace("printf '1\\\\n' > count.txt", "printf '2\\\\n' > count.txt");
    expect(changed).not.toBe(THREE_TASKS);
    await writeFiles(copy.path, { 'plan.yaml': changed });
    const replayed = await other.runFeature('plan.yaml', { replay: stored });
    expect(replayed.divergence).toMatchObject({ taskId: 'count', kind: 'result' });
    expect(await readdir(join(copy.path, '.ordo'))).not.toContain('traces');

    await expect(
      other.runFeature('plan.yaml', { replay: { ...stored, seed: 'other' } }),
    ).rejects.toMatchObject({ code: 'RUNTIME_TRACE_INVALID', details: { seq: 0 } });
    await expect(
      other.runFeature('plan.yaml', { replay: { version: 2 } as unknown as Trace }),
    ).rejects.toMatchObject({ code: 'RUNTIME_TRACE_INVALID', details: { seq: -1, reason: 'shape' } });
  });
});

describe('ordo verify', { timeout: 60_000 }, () => {
  it('exits 0 for an untouched trace and 1 naming the tampered entry', async () => {
    await using dir = await tempDir();
    await runDemo(dir.path);
    const ok = memoryIo({ cwd: dir.path });
    expect(await main(['verify'], ok.io)).toBe(0);
    expect(ok.stdout()).toMatch(/^ok demo: 3 entries, digest [0-9a-f]{12}\n$/);

    const id = await flipDigest(traceOf(dir.path), 1);
    const bad = memoryIo({ cwd: dir.path });
    expect(await main(['verify'], bad.io)).toBe(1);
    expect(bad.stdout()).toContain(`TAMPERED demo: entry #1 (task ${id}), digest:`);

    const json = memoryIo({ cwd: dir.path });
    expect(await main(['verify', '--json'], json.io)).toBe(1);
    expect(JSON.parse(json.stdout())).toMatchObject({
      feature: 'demo',
      ok: false,
      seq: 1,
      id,
      reason: 'digest',
    });
  });

  it('reports a trace that is not JSON or not a trace, and no trace at all', async () => {
    await using dir = await tempDir();
    await runDemo(dir.path);
    await writeFile(join(dir.path, '.ordo', 'traces', 'junk.json'), '{"version": 2, "entries": "');
    await writeFile(join(dir.path, '.ordo', 'traces', 'other.json'), '{"version": 99}');
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['verify'], io.io)).toBe(1);
    expect(io.stdout()).toMatch(/^ok demo: /m);
    expect(io.stdout()).toMatch(/^TAMPERED junk: the trace as a whole, shape: /m);
    expect(io.stdout()).toMatch(/^TAMPERED other: the trace as a whole, shape: /m);

    await using empty = await tempDir();
    const none = memoryIo({ cwd: empty.path });
    expect(await main(['verify', '--workspace', empty.path], none.io)).toBe(1);
    expect(none.stderr()).toMatch(/^error CLI_NO_TRACE: /);
  });

  it('as a real process: a flipped byte exits 1 with the entry named', async () => {
    await using dir = await tempDir();
    await runDemo(dir.path);
    const id = await flipDigest(traceOf(dir.path), 2);
    const ordo = startOrdo(['verify', '--workspace', dir.path], dir.path);
    expect((await ordo.exited).code).toBe(1);
    expect(ordo.stdout()).toContain(`TAMPERED demo: entry #2 (task ${id})`);
  });
});

describe('ordo replay', { timeout: 60_000 }, () => {
  it('reproduces an untouched run in a copy, leaving the workspace as it was', async () => {
    await using dir = await tempDir();
    await runDemo(dir.path);
    const before = await readFile(join(dir.path, 'greeting.txt'), 'utf8');
    const traceBefore = await readFile(traceOf(dir.path), 'utf8');
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['replay', 'plan.yaml', '--workers', '2'], io.io)).toBe(0);
    expect(io.stderr()).toBe('');
    expect(io.stdout()).toMatch(/^replay ok: demo reproduces its trace \(3 tasks, digest [0-9a-f]{12}\)\n$/);
    // `ok` needs the pre-feature workspace in the copy: over its own edit `count` would change nothing (and
    // diverge). The workspace and its trace are untouched.
    expect(await readFile(join(dir.path, 'greeting.txt'), 'utf8')).toBe(before);
    expect(await readFile(traceOf(dir.path), 'utf8')).toBe(traceBefore);
  });

  it('names the first divergent task of a changed plan, and refuses a tampered trace', async () => {
    await using dir = await tempDir();
    await runDemo(dir.path);
    await writeFiles(dir.path, {
      'changed.yaml': THREE_TASKS.replace('tr a-z A-Z', 'tr a-z b-za'),
    });
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['replay', 'changed.yaml'], io.io)).toBe(1);
    expect(io.stdout()).toMatch(/^replay diverged at #2, task shout: its result differs/);

    const json = memoryIo({ cwd: dir.path });
    expect(await main(['replay', 'changed.yaml', '--json'], json.io)).toBe(1);
    expect(JSON.parse(json.stdout())).toMatchObject({
      ok: false,
      feature: 'demo',
      divergence: { seq: 2, taskId: 'shout', kind: 'result' },
    });

    await flipDigest(traceOf(dir.path), 0);
    const bad = memoryIo({ cwd: dir.path });
    expect(await main(['replay', 'plan.yaml'], bad.io)).toBe(1);
    expect(bad.stderr()).toMatch(/^error RUNTIME_TRACE_INVALID: .*entry #0/);
  });

  it('names an order divergence without running anything, and needs a stored trace', async () => {
    await using dir = await tempDir();
    await runDemo(dir.path);
    await writeFiles(dir.path, {
      'more.yaml': `${THREE_TASKS}  - id: extra\n    files: [extra.txt]\n    run: { shell: "echo x > extra.txt" }\n`,
    });
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['replay', 'more.yaml'], io.io)).toBe(1);
    expect(io.stdout()).toMatch(/^replay diverged at #\d, .*nothing ran/);

    await using empty = await tempDir();
    await writeFiles(empty.path, { 'plan.yaml': THREE_TASKS });
    const none = memoryIo({ cwd: empty.path });
    expect(await main(['replay', 'plan.yaml'], none.io)).toBe(1);
    expect(none.stderr()).toMatch(/^error CLI_NO_TRACE: No trace of feature "demo"/);
  });
});

describe('ordo verify and replay usage', () => {
  it('exit 2 for a missing plan argument, a plan that is not a file and an unknown option', async () => {
    await using dir = await tempDir();
    const noPlan = memoryIo({ cwd: dir.path });
    expect(await main(['replay'], noPlan.io)).toBe(2);
    expect(noPlan.stderr()).toMatch(/^error CLI_USAGE: .*plan/);
    const missing = memoryIo({ cwd: dir.path });
    expect(await main(['replay', 'nope.yaml'], missing.io)).toBe(2);
    expect(missing.stderr()).toMatch(/^error CLI_PLAN_NOT_FOUND: /);
    const unknown = memoryIo({ cwd: dir.path });
    expect(await main(['verify', '--bogus'], unknown.io)).toBe(2);
    expect(unknown.stderr()).toMatch(/^hint: run "ordo verify --help"/m);
  });
});
