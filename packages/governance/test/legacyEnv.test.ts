import { isOrdoError } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import { type ConfigWarning, configKeyPaths, envVariableFor, LEGACY_ENV, loadConfig } from '../src/index.js';

const isOrdoErrorLike = (e: unknown): e is { issues: Array<{ path: string }> } =>
  isOrdoError(e, 'CONFIG_INVALID');

describe('the seed v2.0 KURULTAI_* variables', () => {
  it('map every old name to a real key and set it, with a deprecation warning naming the new variable', async () => {
    const keys = new Set(configKeyPaths());
    for (const key of Object.values(LEGACY_ENV)) expect(keys.has(key), key).toBe(true);
    const warnings: ConfigWarning[] = [];
    const config = await loadConfig({
      env: {
        KURULTAI_MAX_WORKERS: '6',
        KURULTAI_LOG_LEVEL: 'debug',
        KURULTAI_MEMORY_WARNING_THRESHOLD: '0.6',
      },
      onWarning: (w) => warnings.push(w),
    });
    expect(config.workers.max).toBe(6);
    expect(config.log.level).toBe('debug');
    expect(config.memory.thresholds.warning).toBe(0.6);
    expect(warnings.map((w) => [w.code, w.variable, w.replacement])).toEqual([
      ['CONFIG_DEPRECATED_VARIABLE', 'KURULTAI_MAX_WORKERS', 'ORDO_WORKERS__MAX'],
      ['CONFIG_DEPRECATED_VARIABLE', 'KURULTAI_MEMORY_WARNING_THRESHOLD', 'ORDO_MEMORY__THRESHOLDS__WARNING'],
      ['CONFIG_DEPRECATED_VARIABLE', 'KURULTAI_LOG_LEVEL', 'ORDO_LOG__LEVEL'],
    ]);
    expect(warnings[0]?.message).toContain('use ORDO_WORKERS__MAX instead');
  });

  it('gives every replacement a name loadConfig reads as the same key', async () => {
    for (const [old, key] of Object.entries(LEGACY_ENV)) {
      const replacement = envVariableFor(key);
      const fromOld = await loadConfig({ env: { [old]: key === 'log.level' ? 'warn' : '7' } }).catch(
        (e) => e,
      );
      const fromNew = await loadConfig({ env: { [replacement]: key === 'log.level' ? 'warn' : '7' } }).catch(
        (e) => e,
      );
      // Same outcome, valid or not (a threshold of 7 is invalid either way, with the same path).
      if (isOrdoErrorLike(fromNew)) {
        expect(isOrdoErrorLike(fromOld), old).toBe(true);
        expect(fromOld.issues.map((i: { path: string }) => i.path)).toEqual(
          fromNew.issues.map((i: { path: string }) => i.path),
        );
      } else {
        expect(fromOld, old).toEqual(fromNew);
      }
    }
  });

  it('lets ORDO_* win over the old name and says the old one is ignored', async () => {
    const warnings: ConfigWarning[] = [];
    const config = await loadConfig({
      env: { KURULTAI_MAX_WORKERS: '6', ORDO_WORKERS__MAX: '3' },
      onWarning: (w) => warnings.push(w),
    });
    expect(config.workers.max).toBe(3);
    expect(warnings).toMatchObject([{ code: 'CONFIG_SHADOWED_VARIABLE', variable: 'KURULTAI_MAX_WORKERS' }]);
  });

  it('names the old variable as the source of a bad value', async () => {
    const error = await loadConfig({ env: { KURULTAI_QUEUE_MAX_DEPTH: 'lots' } }).catch((e) => e);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues).toMatchObject([
      {
        path: 'queue.maxDepth',
        value: 'lots',
        source: 'env KURULTAI_QUEUE_MAX_DEPTH (deprecated: use ORDO_QUEUE__MAX_DEPTH)',
      },
    ]);
  });
});
