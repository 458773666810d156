import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { main } from '../src/main.js';

/*
 * With DOCKER_HOST set (CI starts an engine and sets it, with ORDO_REQUIRE_DOCKER=1), the example runs for
 * real; ORDO_REQUIRE_DOCKER=1 without a reachable engine fails. Without DOCKER_HOST only the "how to start
 * an engine" path runs.
 */
const dockerHost = process.env.DOCKER_HOST;
const required = process.env.ORDO_REQUIRE_DOCKER === '1';
const missingEngine = `unix://${join(tmpdir(), 'ordo-example-no-engine', 'docker.sock')}`;

it.runIf(dockerHost || required)(
  'runs two workers, sees a killed one CRASHED through events, and terminates all',
  { timeout: 120_000 },
  async () => {
    expect(dockerHost, 'ORDO_REQUIRE_DOCKER=1 needs DOCKER_HOST pointing at an engine').toBeTruthy();
    const lines: string[] = [];
    const demo = await main((line) => lines.push(line));
    if (demo.engine !== 'used') throw new Error(`no engine at DOCKER_HOST=${dockerHost}: ${demo.message}`);

    expect(demo.firstPoll).toEqual({ w1: 'ready', w2: 'ready' });
    expect(demo.listCalls.afterPoll).toBe(1); // one list call for both workers
    expect(demo.crash).toMatchObject({ workerId: 'w2', from: 'ready', to: 'crashed' });
    expect(demo.crash.reason).toMatch(/^exit code 137 after signal 9/);
    expect(demo.viaEvents).toBe(true);
    expect(demo.listCalls.afterCrash).toBe(demo.listCalls.afterPoll); // the crash needed no poll
    expect(demo.changes).toContain('w1: stopping → stopped');
    expect(demo.leftAfterTerminate).toBe(0);
    expect(lines.join('\n')).toContain('w2\'s last log lines: ["worker w2 up"]');
  },
);

it('says how to start an engine when none is reachable', async () => {
  const lines: string[] = [];
  const demo = await main((line) => lines.push(line), {
    docker: { socketPath: new URL(missingEngine).pathname },
  });
  expect(demo).toMatchObject({ engine: 'unavailable' });
  const output = lines.join('\n');
  expect(output).toContain('LAUNCHER_ENGINE_UNAVAILABLE');
  expect(output).toContain('scripts/docker-engine.sh start');
  expect(output).toContain('export DOCKER_HOST=');
});

it('exits 0 from `pnpm start` when no engine is reachable', async () => {
  const { stdout } = await promisify(execFile)('pnpm', ['-s', 'start'], {
    cwd: join(import.meta.dirname, '..'),
    env: { ...process.env, DOCKER_HOST: missingEngine },
  });
  expect(stdout).toContain('No Docker engine is reachable.');
}, 60_000); // tsx compiles the example on start: slow on a loaded machine
