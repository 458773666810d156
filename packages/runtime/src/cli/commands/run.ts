import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FeatureMetrics } from '@ordo/launcher';
import type { FeatureEvent, FeatureResult, Runtime, RuntimeOptions } from '../../types.js';
import { CliUsageError, PlanNotFoundError } from '../cliErrors.js';
import { ExitCode } from '../exitCode.js';
import { type CliIo, colorFor } from '../io.js';
import { LiveStatusView } from '../liveStatusView.js';
import { type WorkspaceFlags, workspacePaths } from '../options.js';
import { formatEvent, formatSummary } from '../progressLines.js';
import { printWorkerEndpoint, type WorkerListenFlags, workersOption } from './workerListen.js';

/** Builds the runtime a command works with: `createRuntime`, or another in a host's own CLI. */
export type RuntimeFactory = (options: RuntimeOptions) => Runtime | Promise<Runtime>;

const INTERRUPTED_NOTE =
  'interrupted: the feature was cancelled; committed tasks stay committed, `ordo run <plan> --resume` runs the rest\n';

/** The flags of `ordo run`. */
export interface RunFlags extends WorkspaceFlags, WorkerListenFlags {
  launcher?: 'subprocess' | 'docker' | undefined;
  /** The worker image for `--launcher docker`. @default `ORDO_WORKER_IMAGE` */
  image?: string | undefined;
  workers?: number | undefined;
  resume?: boolean | undefined;
  /** Print the FeatureResult as JSON and nothing else. */
  json?: boolean | undefined;
  /** Print the feature's unified diff after the summary. */
  diff?: boolean | undefined;
}

/**
 * `ordo run <plan>`: runs a feature plan to the end. On a terminal the status view redraws in place; on a
 * pipe each event is one line. Ends with a summary (or the FeatureResult as JSON) and the exit code of
 * the outcome: 0 succeeded, 1 failed, 130 cancelled by SIGINT/SIGTERM.
 */
export async function run(
  plan: string,
  flags: RunFlags,
  io: CliIo,
  createRuntime: RuntimeFactory,
): Promise<ExitCode> {
  const planFile = resolve(io.cwd, plan);
  if (!(await isFile(planFile))) throw new PlanNotFoundError(plan);
  if (flags.image !== undefined && flags.launcher !== 'docker') {
    throw new CliUsageError('Option --image only applies to --launcher docker.', {
      hint: 'add --launcher docker, or leave --image out',
    });
  }
  const paths = workspacePaths(flags, io.cwd);
  const image = flags.image ?? io.env.ORDO_WORKER_IMAGE;
  await using runtime = await createRuntime({
    workspace: paths.workspace,
    stateDir: paths.stateDir,
    config: paths.configFile,
    launcher: flags.launcher,
    workers: workersOption(flags, io),
    docker: flags.launcher === 'docker' && image !== undefined ? { image } : undefined,
  });
  printWorkerEndpoint(runtime, io.stderr, 'ordo run');
  const progress = progressFor(runtime, flags, io);
  const committedBefore = new Set<string>();
  let result: FeatureResult;
  try {
    result = await runtime.runFeature(planFile, {
      signal: io.signal,
      resume: flags.resume === true,
      onEvent: (event) => {
        if (event.type === 'task-skipped' && event.reason === 'committed-before-resume') {
          committedBefore.add(event.taskId);
        }
        progress.onEvent(event);
      },
    });
  } catch (error) {
    progress.finish();
    if (io.signal?.aborted !== true) throw error;
    io.stderr.write(INTERRUPTED_NOTE);
    return ExitCode.INTERRUPTED;
  }
  progress.finish();
  if (result.status === 'cancelled') io.stderr.write(INTERRUPTED_NOTE);
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    io.stdout.write(formatSummary(result, committedBefore));
    if (flags.diff === true && result.diff !== '') io.stdout.write(`\n${result.diff}`);
  }
  return exitCodeOf(result);
}

/** The exit code of a feature's outcome. */
export function exitCodeOf(result: Pick<FeatureResult, 'status'>): ExitCode {
  switch (result.status) {
    case 'succeeded':
      return ExitCode.OK;
    case 'cancelled':
      return ExitCode.INTERRUPTED;
    default:
      return ExitCode.FAILURE;
  }
}

interface Progress {
  onEvent: (event: FeatureEvent) => void;
  finish: () => void;
}

/** Nothing under `--json`, the live view on a terminal, one line per event otherwise. */
function progressFor(runtime: Runtime, flags: RunFlags, io: CliIo): Progress {
  if (flags.json === true) return { onEvent: () => {}, finish: () => {} };
  if (!io.isTTY) return { onEvent: (event) => io.stdout.write(`${formatEvent(event)}\n`), finish: () => {} };
  const view = new LiveStatusView({
    out: io.stdout,
    source: () => {
      const json = runtime.status();
      return json === undefined ? undefined : FeatureMetrics.fromJSON(json);
    },
    clock: io.clock,
    color: colorFor(io),
    width: io.columns,
  });
  return {
    onEvent: () => view.invalidate(),
    finish: () => {
      view.finish();
      io.stdout.write('\n');
    },
  };
}

/** Whether `path` is an existing file. */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
