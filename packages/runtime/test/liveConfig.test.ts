import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { RecordingLogger } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../src/index.js';
import { tempWorkspace } from './helpers/workspace.js';

describe('the runtime config over time', () => {
  it('refuses watch and reloadConfig without a config file', async () => {
    const workspace = await tempWorkspace();
    const error = await createRuntime({ workspace, watch: true, config: { log: { level: 'warn' } } }).catch(
      (e: unknown) => e,
    );
    expect(isOrdoError(error, 'RUNTIME_OPTIONS_INVALID')).toBe(true);
    await using runtime = await createRuntime({ workspace });
    const reload = await runtime.reloadConfig().catch((e: unknown) => e);
    expect(isOrdoError(reload, 'RUNTIME_OPTIONS_INVALID')).toBe(true);
  });

  it('reloads live keys into runtime.config and /metrics, and keeps restart-only keys', async () => {
    const workspace = await tempWorkspace();
    const file = path.join(workspace, 'ordo.yaml');
    await writeFile(file, 'breaker:\n  failureThreshold: 3\n');
    const logger = new RecordingLogger();
    await using runtime = await createRuntime({ workspace, config: file, logger });
    await writeFile(file, 'breaker:\n  failureThreshold: 9\nqueue:\n  maxDepth: 40\n');
    const outcome = await runtime.reloadConfig();
    expect(outcome).toEqual({ applied: ['breaker.failureThreshold'], refused: ['queue.maxDepth'] });
    expect(runtime.config.breaker.failureThreshold).toBe(9);
    expect(runtime.config.queue.maxDepth).toBe(5);
    const text = await runtime.metricsText();
    expect(text).toContain('ordo_config_value{key="breaker.failureThreshold"} 9');
    expect(text).toContain('ordo_config_reloads_total{outcome="applied"} 1');
    expect(text).toContain('ordo_config_reloads_total{outcome="restart_required"} 1');
    expect(logger.records.some((r) => r.level === 'warn' && r.msg?.includes('queue.maxDepth'))).toBe(true);
  });

  it('exports each flag as ordo_feature_flag and logs a KURULTAI_* variable as deprecated', async () => {
    const workspace = await tempWorkspace();
    const logger = new RecordingLogger();
    const saved = process.env.KURULTAI_LOG_LEVEL;
    process.env.KURULTAI_LOG_LEVEL = 'info';
    try {
      await using runtime = await createRuntime({
        workspace,
        logger,
        config: { flags: { circuitBreakers: false } },
      });
      const text = await runtime.metricsText();
      expect(text).toContain('ordo_feature_flag{flag="circuit_breakers"} 0');
      expect(text).toContain('ordo_feature_flag{flag="worker_pool"} 1');
      expect(text).not.toContain('ordo_circuit_breaker_state{name="worker-spawn"}');
    } finally {
      if (saved === undefined) delete process.env.KURULTAI_LOG_LEVEL;
      else process.env.KURULTAI_LOG_LEVEL = saved;
    }
    expect(logger.records).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: expect.stringContaining('use ORDO_LOG__LEVEL instead') }),
    );
  });
});
