import { join } from 'node:path';
import { createMetricsCollector, readStateFile, renderStatus } from '@ordo/launcher';
import { STATE_FILE } from '../../internal/stateLayout.js';
import { NoStateError } from '../cliErrors.js';
import { ExitCode } from '../exitCode.js';
import { type CliIo, colorFor } from '../io.js';
import { type WorkspaceFlags, workspacePaths } from '../options.js';

/** The flags of `ordo status`. */
export interface StatusFlags extends Pick<WorkspaceFlags, 'workspace' | 'state'> {
  /** Print the feature metrics as JSON instead of the view. */
  json?: boolean | undefined;
}

/**
 * `ordo status`: reads the state file (without holding it, so a run may be writing it) and shows the
 * feature's progress, levels and workers with `renderStatus`, or its metrics as JSON. A corrupt file falls
 * back to its backup with a warning; no file at all is `CLI_NO_STATE`.
 */
export async function status(flags: StatusFlags, io: CliIo): Promise<ExitCode> {
  const file = join(workspacePaths(flags, io.cwd).stateDir, STATE_FILE);
  const { state, recovered } = await readStateFile(file, { signal: io.signal });
  if (state === undefined) throw new NoStateError(file);
  if (recovered !== undefined) {
    io.stderr.write(`warning ${recovered.code}: ${recovered.message} Showing the backup.\n`);
  }
  const collector = createMetricsCollector({ source: { revision: 0, state }, clock: io.clock });
  const metrics = collector.featureMetrics();
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify(metrics, null, 2)}\n`);
  } else {
    io.stdout.write(renderStatus(metrics, { color: colorFor(io), width: io.columns }));
  }
  return ExitCode.OK;
}
