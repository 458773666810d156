/*
 * TEST-ONLY fault injection. `ORDO_TEST_KILL_AT=<step>:<n>` makes this process SIGKILL itself the n-th
 * time (1-based, counted over the whole run) it reaches the named commit step, so a test can stop a real
 * `ordo run` at every moment of a commit and check what `--resume` makes of it. Without the variable
 * (or with one that does not parse) every call here is a no-op: production runs never set it.
 */

/** The named moments of one task's commit, in the order they happen. */
export const KILL_STEPS = [
  /** The task's edits are staged and validated; nothing of its commit is on disk yet. */
  'staged',
  /** The runtime journal's intent line (what the commit will write) is durable. */
  'intent',
  /** The spool's commit journal and every temp file are written; no file of the tree is replaced yet. */
  'prepared',
  /** Just before the spool renames one file of the commit into place (counted per file). */
  'replace',
  /** Every file is renamed into place; the spool's commit journal is not removed yet. */
  'replaced',
  /** The spool's commit is done (its journal removed); the runtime journal has no commit line yet. */
  'spool-committed',
  /** The runtime journal's commit line is durable; the task is not settled in the trace yet. */
  'commit-record',
  /** The task is settled (its trace entry is in); the tasks waiting for it may start. */
  'settled',
  /** Every level is done and the digest computed; the journal and state are not closed yet. */
  'finished',
] as const;

/** One of {@link KILL_STEPS}. */
export type KillStep = (typeof KILL_STEPS)[number];

const armed = parse(process.env.ORDO_TEST_KILL_AT);
let reached = 0;

function parse(value: string | undefined): { step: KillStep; n: number } | undefined {
  const match = /^([a-z-]+):(\d+)$/.exec(value ?? '');
  if (!match) return undefined;
  const step = match[1] as KillStep;
  const n = Number(match[2]);
  return KILL_STEPS.includes(step) && n >= 1 ? { step, n } : undefined;
}

/** TEST-ONLY: SIGKILLs this process when `ORDO_TEST_KILL_AT` names `step` and this is its n-th time. */
export function killPoint(step: KillStep): void {
  if (armed?.step !== step) return;
  reached++;
  if (reached === armed.n) process.kill(process.pid, 'SIGKILL');
}

/** Whether a kill point is armed (so callers add the spool's test hooks only then). */
export const killPointsArmed = armed !== undefined;
