import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { ManualClock } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FeatureMetrics,
  MetricsCollector,
  parseState,
  readStateFile,
  renderStatus,
  StateStore,
  WorkerMetrics,
} from '../src/index.js';
import { midRunState, T0 } from './fixtures/states.js';
import { tempDir } from './helpers.js';

// Where a worker runs (Swarm nodes, remote workers): in the state file, the worker metrics and the view,
// and absent everywhere for local workers, so their files and JSON do not change.

describe('worker placement', () => {
  it('is recorded in the state file, survives a reload and reaches the worker metrics', async () => {
    await using dir = await tempDir();
    const file = join(dir.path, 'state.json');
    const clock = new ManualClock(T0);
    {
      await using store = await StateStore.open({ file, clock });
      store.recordWorkerStarted('w1');
      store.recordWorkerStarted('w2');
      store.recordWorkerReady('w1');
      store.recordWorkerPlacement('w1', 'node-3');
      store.recordWorkerPlacement('w2', ''); // ignored
      await store.flush();
    }
    const text = await readFile(file, 'utf8');
    const state = parseState(text, file);
    expect(state.workers.find((w) => w.workerId === 'w1')?.node).toBe('node-3');
    expect(state.workers.find((w) => w.workerId === 'w2')).not.toHaveProperty('node');
    const { state: read } = await readStateFile(file);
    const metrics = new MetricsCollector({ revision: 1, state: read ?? state }, { clock }).featureMetrics();
    expect(metrics.workers.map((w) => w.toJSON().node)).toEqual(['node-3', undefined]);
    expect(metrics.toJSON().workers[1]).not.toHaveProperty('node');
    await expect(StateStore.open({ file, clock }).then((s) => s.close())).resolves.toBeUndefined();
  });

  it('a state file whose node is not a non-empty string is STATE_CORRUPT', () => {
    const good = midRunState();
    for (const node of ['', 42, null, 'x'.repeat(257)]) {
      const bad = { ...good, workers: good.workers.map((w, i) => (i === 0 ? { ...w, node } : w)) };
      expect(() => parseState(JSON.stringify(bad), 'state.json')).toThrow(
        expect.objectContaining({ code: 'STATE_CORRUPT' }),
      );
    }
  });

  it('round-trips through WorkerMetrics JSON, with or without a node', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined }), (node) => {
        const data = {
          workerId: 'w1',
          startedAt: T0,
          readyAt: T0 + 10,
          lastTaskCompletedAt: null,
          exitedAt: null,
          initializationMs: 10,
          uptimeMs: 100,
          tasksCompleted: 0,
          tasksFailed: 0,
          totalTaskMs: 0,
          avgTaskMs: null,
          ...(node !== undefined && { node }),
        };
        const json = JSON.parse(JSON.stringify(new WorkerMetrics(data)));
        expect('node' in json).toBe(node !== undefined);
        expect(WorkerMetrics.fromJSON(json)).toEqual(new WorkerMetrics(data));
      }),
    );
  });

  it('adds a Node column to the status view only when a worker has one', () => {
    const clock = new ManualClock(T0 + 300_000);
    const local = new MetricsCollector({ revision: 1, state: midRunState() }, { clock }).featureMetrics();
    expect(stripVTControlCharacters(renderStatus(local))).not.toMatch(/Node/);
    const s = midRunState();
    const placed = { ...s, workers: s.workers.map((w, i) => (i === 0 ? { ...w, node: 'node-3' } : w)) };
    const view = stripVTControlCharacters(
      renderStatus(new MetricsCollector({ revision: 1, state: placed }, { clock }).featureMetrics()),
    );
    expect(view).toMatch(/Worker\s+│?\s*Node/);
    expect(view).toContain('node-3');
    expect(FeatureMetrics.fromJSON(JSON.parse(JSON.stringify(local)))).toEqual(local);
  });
});
