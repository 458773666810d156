import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './support/memoryIo.js';
import { startOrdo } from './support/ordoProcess.js';

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+) /;

/** One sample of the Prometheus text. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** Polls `check` every 50 ms until it is true, for at most `ms` (a file watch takes a moment). */
async function eventually(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting for the change');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ordo serve: live reload of its config file', () => {
  it('applies live keys to /metrics and to admission, refuses restart-only keys by name, keeps the config on an invalid edit', async () => {
    await using dir = await tempDir();
    const file = path.join(dir.path, 'ordo.yaml');
    await writeFile(file, 'admission:\n  ratePerSecond: 1000\n  burst: 1000\n');
    const ordo = startOrdo(['serve', '--port', '0'], dir.path);
    try {
      const url = LISTENING.exec(await ordo.waitFor(LISTENING))?.[1] as string;
      await ordo.waitFor(/watching .+\n/);
      expect(ordo.stdout()).toContain(`watching ${file}`);
      const metrics = async () => (await fetch(`${url}/metrics`)).text();
      const config = async (key: string) => sample(await metrics(), 'ordo_config_value', `key="${key}"`);
      const work = async () => (await fetch(`${url}/work`)).status;
      expect(await config('admission.burst')).toBe(1000);
      expect(await config('memory.thresholds.warning')).toBe(0.7);
      expect([await work(), await work(), await work()]).not.toContain(429);

      // Live keys and a restart-only one in one edit.
      await writeFile(
        file,
        [
          'admission:',
          '  ratePerSecond: 0.01',
          '  burst: 1',
          'memory:',
          '  thresholds: { warning: 0.6, critical: 0.85, emergency: 0.95 }',
          'workers:',
          '  max: 7',
          '',
        ].join('\n'),
      );
      await eventually(async () => (await config('admission.burst')) === 1);
      expect(await config('admission.ratePerSecond')).toBe(0.01);
      expect(await config('memory.thresholds.warning')).toBe(0.6);
      expect(await config('workers.max')).toBe(2);
      await eventually(() => ordo.stderr().includes('restart needed to apply workers.max'));
      // The new rate in behaviour: one request of the new burst, then 429 with the bucket's Retry-After.
      expect(await work()).not.toBe(429);
      const refused = await fetch(`${url}/work`);
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { code: string }).code).toBe('RATE_LIMITED');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(60);
      await eventually(() => ordo.stderr().includes('request refused: more than 0.01 requests a second'));

      // An invalid edit: logged with why, the config in force stays.
      await writeFile(file, 'admission:\n  burst: -3\n');
      await eventually(() => ordo.stderr().includes('config edit rejected'));
      expect(ordo.stderr()).toContain('CONFIG_INVALID');
      expect(ordo.stderr()).toContain('admission.burst');
      expect(await config('admission.burst')).toBe(1);
      expect(sample(await metrics(), 'ordo_config_reloads_total', 'outcome="invalid"')).toBe(1);
      expect(await work()).toBe(429);

      // log.level is live too: at error, refusals (warn) are no longer logged.
      await writeFile(file, 'admission:\n  ratePerSecond: 0.01\n  burst: 1\nlog:\n  level: error\n');
      await eventually(async () =>
        (await metrics()).includes('ordo_config_info{key="log.level",value="error"} 1'),
      );
      const before = ordo.stderr().split('request refused').length;
      expect(await work()).toBe(429);
      await new Promise((r) => setTimeout(r, 200));
      expect(ordo.stderr().split('request refused').length).toBe(before);
    } finally {
      ordo.child.kill('SIGTERM');
      expect(await ordo.exited).toEqual({ code: 0, signal: null });
    }
  }, 60_000);
});
