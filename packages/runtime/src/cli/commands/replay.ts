import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { type Trace, verifyTrace } from '@ordo/kernel-scheduler';
import { TraceInvalidError } from '../../errors.js';
import { readStoredTrace, traceFile } from '../../internal/featureTrace.js';
import { RESERVED_DIRS } from '../../internal/levelView.js';
import { RunJournal } from '../../internal/runJournal.js';
import { loadPlan } from '../../plan.js';
import { NoTraceError, PlanNotFoundError } from '../cliErrors.js';
import { ExitCode } from '../exitCode.js';
import type { CliIo } from '../io.js';
import { type WorkspaceFlags, workspacePaths } from '../options.js';
import type { RuntimeFactory } from './run.js';
import { isFile } from './run.js';

/** The flags of `ordo replay`. */
export interface ReplayFlags extends WorkspaceFlags {
  workers?: number | undefined;
  /** Print `{ ok, feature, digest, divergence }` as JSON instead of the line. */
  json?: boolean | undefined;
}

/**
 * `ordo replay <plan>`: runs the plan again and compares it, task by task, with the feature's stored trace.
 * The run happens in a temporary copy of the workspace with the feature's own edits undone (from the
 * journal's baseline, when the last run in the state dir was of this feature), so the workspace itself is not
 * touched. Prints `replay ok` or the first divergent task; exit 0 when the run reproduces the trace, 1 when
 * it diverges, the trace does not verify (`RUNTIME_TRACE_INVALID`) or none is stored (`CLI_NO_TRACE`).
 */
export async function replayCommand(
  plan: string,
  flags: ReplayFlags,
  io: CliIo,
  createRuntime: RuntimeFactory,
): Promise<ExitCode> {
  const planFile = resolve(io.cwd, plan);
  if (!(await isFile(planFile))) throw new PlanNotFoundError(plan);
  const paths = workspacePaths(flags, io.cwd);
  const parsed = await loadPlan(planFile, io.signal);
  const stored = await readStoredTrace(paths.stateDir, parsed.feature);
  if (stored === undefined) throw new NoTraceError(traceFile(paths.stateDir, parsed.feature), parsed.feature);
  const trace = stored.trace as Trace;
  const check =
    stored.trace === undefined
      ? ({ ok: false, seq: -1, id: undefined, reason: 'shape', message: 'The file is not JSON.' } as const)
      : verifyTrace(trace);
  if (!check.ok) throw new TraceInvalidError(check, stored.file);

  const scratch = await mkdtemp(join(tmpdir(), 'ordo-replay-'));
  try {
    const workspace = join(scratch, 'workspace');
    const skip = [paths.stateDir, ...RESERVED_DIRS.map((d) => join(paths.workspace, d))];
    await cp(paths.workspace, workspace, {
      recursive: true,
      // Links stay as written: a relative link must not become an absolute one into the real workspace.
      verbatimSymlinks: true,
      filter: (source) => !skip.some((dir) => source === dir || isBelow(source, dir)),
    });
    const restored = await RunJournal.restoreBaseline(paths.stateDir, workspace, { feature: parsed.feature });
    if (!restored) {
      io.stderr.write(
        `warning: the last run in ${paths.stateDir} is not of feature ${parsed.feature}, so its edits cannot be undone; replaying against the workspace as it is now\n`,
      );
    }
    await using runtime = await createRuntime({
      workspace,
      stateDir: join(scratch, 'state'),
      config: paths.configFile,
      workers: flags.workers,
    });
    const result = await runtime.runFeature(planFile, { signal: io.signal, replay: trace });
    if (io.signal?.aborted === true) return ExitCode.INTERRUPTED;
    const divergence = result.divergence;
    if (flags.json === true) {
      io.stdout.write(
        `${JSON.stringify({ ok: divergence === undefined, feature: parsed.feature, digest: trace.digest, divergence })}\n`,
      );
    } else if (divergence === undefined) {
      io.stdout.write(
        `replay ok: ${parsed.feature} reproduces its trace (${trace.entries.length} tasks, digest ${trace.digest.slice(0, 12)})\n`,
      );
    } else {
      const task =
        divergence.taskId === undefined ? 'past the end of the trace' : `task ${divergence.taskId}`;
      const what =
        divergence.kind === 'order'
          ? `the plan orders ${divergence.actual ?? 'nothing'} there (nothing ran)`
          : divergence.kind === 'status'
            ? `its status is ${divergence.actual ?? '?'}, the trace has ${divergence.expected ?? '?'}`
            : 'its result differs from the trace (other edits or another error)';
      io.stdout.write(`replay diverged at #${divergence.seq}, ${task}: ${what}\n`);
    }
    return divergence === undefined ? ExitCode.OK : ExitCode.FAILURE;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function isBelow(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith('/');
}
