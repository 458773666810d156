import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { main } from '../src/main.js';

it('shows the same order and digest at two concurrencies, a tampered byte and a changed result', async () => {
  const lines: string[] = [];
  const demo = await main((line) => lines.push(line));

  const [first, second] = demo.runs;
  expect(first?.concurrency).not.toBe(second?.concurrency);
  expect(second?.commitOrder).toEqual(first?.commitOrder);
  expect(second?.digest).toBe(first?.digest);
  expect(first?.commitOrder[0]).toBe('fetch-audit'); // HIGH priority commits first
  expect([...(second?.finishOrder ?? [])].sort()).toEqual([...(first?.commitOrder ?? [])].sort());

  expect(demo.verified).toEqual({ ok: true, digest: first?.digest });
  expect(demo.tampered).toMatchObject({ ok: false, seq: 3, id: first?.commitOrder[3], reason: 'digest' });
  expect(demo.replayedOk).toBe(true);
  expect(demo.divergence).toMatchObject({ id: 'fetch-refunds', kind: 'result' });

  const output = lines.join('\n');
  expect(output).toContain('same commit order and digest at both concurrencies');
  expect(output).toContain(`Entry 3 ("${first?.commitOrder[3]}") does not match its digest.`);
  expect(output).toContain('replay(fetch-refunds changed): diverged at #7 fetch-refunds (result)');
});

it('runs as `pnpm start`', async () => {
  const { stdout } = await promisify(execFile)('pnpm', ['-s', 'start'], {
    cwd: join(import.meta.dirname, '..'),
  });
  expect(stdout).toContain('same commit order and digest at both concurrencies');
}, 60_000); // tsx compiles the example on start: slow on a loaded machine
