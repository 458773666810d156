/**
 * Quickstart: a feature plan of 9 tasks in 3 levels prepares release 1.3.0 of a small project. Each task
 * runs on a subprocess worker (bash commands, and one ES module), its edits are staged, checked against
 * the files it declared and committed; then the status view and the diff of the whole feature are shown.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FeatureMetrics, renderStatus } from '@ordo/launcher';
import { createRuntime, type FeatureEvent, type FeatureResult } from '@ordo/runtime';

const here = join(import.meta.dirname, '..');
/** The plan: what to do, in which order, touching which files. */
export const PLAN_FILE = join(here, 'plan.yaml');
/** The project the plan edits; it is copied to a temp workspace first, so this copy never changes. */
export const PROJECT_DIR = join(here, 'project');

/** Options for {@link main}. */
export interface QuickstartOptions {
  /** How many workers run at once. @default 3 */
  workers?: number | undefined;
  /** Color the status view. @default whether stdout is a terminal */
  color?: boolean | undefined;
}

/** What the quickstart did, for its smoke test. */
export interface Quickstart {
  readonly result: FeatureResult;
  /** The edited files of the workspace, read back after the feature committed. */
  readonly files: Readonly<Record<string, string>>;
}

/** Runs the plan in a fresh copy of the project, printing through `log`; removes the copy at the end. */
export async function main(
  log: (line: string) => void = console.log,
  options: QuickstartOptions = {},
): Promise<Quickstart> {
  const workspace = await mkdtemp(join(tmpdir(), 'ordo-quickstart-'));
  try {
    await cp(PROJECT_DIR, workspace, { recursive: true });
    log(`workspace: ${workspace} (a copy of examples/quickstart/project)\n`);

    await using runtime = await createRuntime({
      workspace,
      launcher: 'subprocess',
      workers: options.workers ?? 3,
    });
    const result = await runtime.runFeature(PLAN_FILE, {
      onEvent: (event) => {
        const line = describe(event);
        if (line !== undefined) log(line);
      },
    });

    log(
      `\n${renderStatus(FeatureMetrics.fromJSON(result.metrics), { color: options.color ?? process.stdout.isTTY })}`,
    );
    log(result.diff);
    log('Next: the same plan with the `ordo` CLI, and how to adapt it: examples/quickstart/README.md');

    const files: Record<string, string> = {};
    for (const path of ['package.json', 'CHANGELOG.md', 'RELEASE_NOTES.md', 'src/greet.js', 'src/inbox.js']) {
      files[path] = await readFile(join(workspace, path), 'utf8');
    }
    return { result, files };
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
}

/** The line printed for a step of the run, or `undefined` for steps not worth a line here. */
function describe(event: FeatureEvent): string | undefined {
  switch (event.type) {
    case 'feature-start':
      return `▶ ${event.feature}: ${event.tasks} tasks in ${event.levels} levels`;
    case 'level-start':
      return `\nlevel ${event.level}: ${event.tasks.join(', ')}`;
    case 'task-committed':
      return `  ✓ ${event.taskId.padEnd(16)} ${event.files.join(', ')}`;
    case 'task-failed':
      return `  ✗ ${event.taskId.padEnd(16)} ${event.code}: ${event.message}`;
    case 'task-skipped':
      return `  - ${event.taskId.padEnd(16)} skipped (${event.reason})`;
    case 'feature-end':
      return `\n■ ${event.feature} ${event.status} · trace ${event.traceDigest.slice(0, 16)}`;
    default:
      return undefined;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { result } = await main();
  process.exitCode = result.status === 'succeeded' ? 0 : 1;
}
