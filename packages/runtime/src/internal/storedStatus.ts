import path from 'node:path';
import { createMetricsCollector, type FeatureMetricsJson, readStateFile } from '@ordo/launcher';
import { STATE_FILE } from './stateLayout.js';

/**
 * The feature metrics recorded in the workspace's state file (left by an earlier run, perhaps by another
 * process), or `undefined` when there is none. A corrupt file falls back to its backup, as `ordo status` does.
 */
export async function storedStatus(
  stateDir: string,
  signal?: AbortSignal,
): Promise<FeatureMetricsJson | undefined> {
  const { state } = await readStateFile(path.join(stateDir, STATE_FILE), { signal });
  if (state === undefined) return undefined;
  return createMetricsCollector({ source: { revision: 0, state } })
    .featureMetrics()
    .toJSON();
}
