import { join } from 'node:path';
import { type Trace, verifyTrace } from '@ordo/kernel-scheduler';
import { readStoredTraces, TRACES_DIR } from '../../internal/featureTrace.js';
import { NoTraceError } from '../cliErrors.js';
import { ExitCode } from '../exitCode.js';
import type { CliIo } from '../io.js';
import { type WorkspaceFlags, workspacePaths } from '../options.js';

/** The flags of `ordo verify`. */
export interface VerifyFlags extends Pick<WorkspaceFlags, 'workspace' | 'state'> {
  /** Print one JSON object per trace instead of the lines. */
  json?: boolean | undefined;
}

/**
 * `ordo verify`: recomputes the hash chain of every feature trace stored in the state dir
 * (`<state>/traces/<feature>.json`, kernel-scheduler traces) with `verifyTrace`. Prints one line per trace,
 * naming the first tampered entry of a bad one; exit 0 when every trace verifies, 1 when one does not or
 * none is stored (`CLI_NO_TRACE`).
 */
export async function verify(flags: VerifyFlags, io: CliIo): Promise<ExitCode> {
  const { stateDir } = workspacePaths(flags, io.cwd);
  const stored = await readStoredTraces(stateDir);
  if (stored.length === 0) throw new NoTraceError(join(stateDir, TRACES_DIR));
  let ok = true;
  for (const { feature, file, trace } of stored) {
    const check =
      trace === undefined
        ? ({ ok: false, seq: -1, id: undefined, reason: 'shape', message: 'The file is not JSON.' } as const)
        : verifyTrace(trace as Trace);
    if (flags.json === true) {
      io.stdout.write(`${JSON.stringify({ feature, file, ...check })}\n`);
    } else if (check.ok) {
      const entries = (trace as Trace).entries.length;
      io.stdout.write(
        `ok ${feature}: ${entries} ${entries === 1 ? 'entry' : 'entries'}, digest ${check.digest.slice(0, 12)}\n`,
      );
    } else {
      const where =
        check.seq >= 0
          ? `entry #${check.seq}${check.id === undefined ? '' : ` (task ${check.id})`}`
          : 'the trace as a whole';
      io.stdout.write(`TAMPERED ${feature}: ${where}, ${check.reason}: ${check.message} (${file})\n`);
    }
    ok &&= check.ok;
  }
  return ok ? ExitCode.OK : ExitCode.FAILURE;
}
