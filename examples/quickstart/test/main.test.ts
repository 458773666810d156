import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRuntime } from '@ordo/runtime';
import { describe, expect, it } from 'vitest';
import { main, PROJECT_DIR } from '../src/main.js';
import { startFastify } from '../src/serve-fastify.js';

describe('quickstart', { timeout: 60_000 }, () => {
  it('runs the 9 tasks in 3 levels on subprocess workers and shows the status and the diff', async () => {
    const lines: string[] = [];
    const { result, files } = await main((line) => lines.push(line), { color: false });

    expect(result.status).toBe('succeeded');
    expect(result.tasks).toHaveLength(9);
    expect(result.tasks.every((t) => t.status === 'committed')).toBe(true);
    expect(result.tasks.map((t) => t.level)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);

    expect(JSON.parse(files['package.json'] as string).version).toBe('1.3.0');
    expect(files['src/inbox.js']).not.toContain('recieve');
    expect(files['src/greet.js']).toMatch(/return `Goodbye, \$\{name\}!`;/);
    expect(files['RELEASE_NOTES.md']).toBe(
      '## 1.3.0\n\n- Adds `farewell()`.\n- Fixes the spelling of "receive".\n\n',
    );
    expect(files['CHANGELOG.md']).toMatch(/## 1\.3\.0[\s\S]*## 1\.2\.3/);

    expect(result.diff).toContain('diff --git a/package.json b/package.json');
    expect(result.diff).toContain('+  "version": "1.3.0",');
    expect(result.diff).toContain('new file mode 100644');

    const output = lines.join('\n');
    expect(output).toContain('▶ release-1.3.0: 9 tasks in 3 levels');
    expect(output).toContain('100% (9/9 tasks)');
    expect(output).toContain('Total: 9/9 tasks done, 0 failed');
    expect(output).toContain('■ release-1.3.0 succeeded');
  });

  it('runs as `pnpm start`', async () => {
    const { stdout } = await promisify(execFile)('pnpm', ['-s', 'start'], {
      cwd: join(import.meta.dirname, '..'),
    });
    expect(stdout).toContain('■ release-1.3.0 succeeded');
    expect(stdout).toContain('diff --git a/src/greet.js b/src/greet.js');
  });
});

describe('runtime.httpHandler() in Fastify', { timeout: 60_000 }, () => {
  it('serves /health, /metrics and /status next to the host route', async () => {
    const workspace = await mkdtemp(join(tmpdir(), 'ordo-quickstart-fastify-'));
    try {
      await cp(PROJECT_DIR, workspace, { recursive: true });
      await using runtime = await createRuntime({ workspace });
      const server = await startFastify(runtime);
      try {
        const health = await fetch(`${server.url}/health`);
        expect(health.status).toBe(200);
        expect(await health.json()).toMatchObject({ status: 'ok' });

        const metrics = await fetch(`${server.url}/metrics`);
        expect(metrics.status).toBe(200);
        expect(metrics.headers.get('content-type')).toContain('text/plain');
        expect(await metrics.text()).toContain('# TYPE');

        const before = await fetch(`${server.url}/status`);
        expect(before.status).toBe(404);
        expect(await before.json()).toEqual({ error: 'No feature has run yet in this workspace.' });
        await runtime.runFeature({
          feature: 'touch',
          tasks: [{ id: 'touch', files: ['touched.txt'], run: { shell: 'echo hi > touched.txt' } }],
        });
        const status = await fetch(`${server.url}/status`);
        expect(status.status).toBe(200);
        expect(await status.json()).toMatchObject({ feature: 'touch', completedTasks: 1 });

        const hello = await fetch(`${server.url}/hello`);
        expect(await hello.json()).toEqual({ hello: 'from the host app' });
      } finally {
        await server.close();
      }
    } finally {
      await rm(workspace, { recursive: true, force: true });
    }
  });
});
