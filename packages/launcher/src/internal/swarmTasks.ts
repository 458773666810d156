/** A Swarm task as `GET /tasks` lists it, the fields the launcher reads. */
export interface SwarmTask {
  ID: string;
  ServiceID?: string;
  NodeID?: string;
  Version?: { Index?: number };
  DesiredState?: string;
  Status?: {
    State?: string;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
}

/** The states of a task that is over: its container no longer runs (or never ran). */
const FINISHED: ReadonlySet<string> = new Set([
  'complete',
  'failed',
  'shutdown',
  'rejected',
  'orphaned',
  'remove',
]);

/**
 * What a task's state means for its worker:
 *
 * | task state | verdict |
 * | --- | --- |
 * | new, allocated, pending, assigned, accepted, preparing, ready, starting | `starting` (INITIALIZING) |
 * | running | `running` (then heartbeats decide READY / RUNNING / IDLE / STALLED) |
 * | complete | `exited` with the exit code (0: STOPPED) |
 * | failed | `exited` with the exit code (CRASHED) |
 * | shutdown, remove, rejected, orphaned | `lost` (CRASHED unless the launcher asked), with why |
 */
export type TaskVerdict =
  | { kind: 'starting'; state: string }
  | { kind: 'running' }
  | { kind: 'exited'; exitCode: number | undefined; detail: string }
  | { kind: 'lost'; detail: string };

/** Maps a task's state (see {@link TaskVerdict}); an unknown state counts as starting, never as a death. */
export function taskVerdict(task: SwarmTask, hostname: string | undefined): TaskVerdict {
  const state = task.Status?.State ?? 'new';
  const err = task.Status?.Err ?? task.Status?.Message ?? '';
  const exitCode = task.Status?.ContainerStatus?.ExitCode;
  switch (state) {
    case 'running':
      return { kind: 'running' };
    case 'complete':
      return { kind: 'exited', exitCode: exitCode ?? 0, detail: '' };
    case 'failed':
      return { kind: 'exited', exitCode, detail: err };
    case 'rejected':
      return { kind: 'lost', detail: `Swarm rejected the task: ${err || 'no reason given'}` };
    case 'orphaned':
      return {
        kind: 'lost',
        detail: `the task's node ${hostname ?? task.NodeID ?? '?'} is unreachable (task orphaned)`,
      };
    case 'shutdown':
    case 'remove':
      return { kind: 'lost', detail: `Swarm shut the task down (${state}${err ? `: ${err}` : ''})` };
    default:
      return { kind: 'starting', state };
  }
}

/** Whether a task is over (its container is stopped, or was never started). */
export function taskFinished(task: SwarmTask): boolean {
  return FINISHED.has(task.Status?.State ?? 'new');
}

/** The newest task of each service (a service of this launcher has one slot; Swarm may keep old tasks). */
export function latestTasks(tasks: readonly SwarmTask[]): Map<string, SwarmTask> {
  const latest = new Map<string, SwarmTask>();
  for (const task of tasks) {
    const service = task.ServiceID;
    if (service === undefined) continue;
    const seen = latest.get(service);
    if (!seen || (task.Version?.Index ?? 0) > (seen.Version?.Index ?? 0)) latest.set(service, task);
  }
  return latest;
}
