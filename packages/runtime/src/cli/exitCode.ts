/**
 * The exit codes of `ordo`, documented in CLI.md. Scripts branch on them.
 */
export const ExitCode = {
  /** The command did what it was asked: the feature succeeded, the config is valid, the server stopped cleanly. */
  OK: 0,
  /** The command ran and the answer is no: a task failed, the config is invalid, no state to show, a runtime error. */
  FAILURE: 1,
  /** The command line is wrong: unknown command or option, a bad option value, a missing or unreadable plan file. */
  USAGE: 2,
  /** A run was interrupted (SIGINT or SIGTERM) and cancelled; committed tasks stay committed. */
  INTERRUPTED: 130,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
