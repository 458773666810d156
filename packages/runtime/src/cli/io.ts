import type { Clock } from '@ordo/contracts';

/** A stream the CLI writes to: `process.stdout`, or a collector in tests. */
export interface CliOutput {
  write(chunk: string): unknown;
}

/**
 * Everything `main` reads from or writes to the outside world, so tests run the CLI in-process with their
 * own streams, environment and working directory.
 */
export interface CliIo {
  /** Results, help, the status view. */
  stdout: CliOutput;
  /** Errors and warnings. */
  stderr: CliOutput;
  /** The environment (`ORDO_*` config overrides, `NO_COLOR`). */
  env: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths are resolved against. */
  cwd: string;
  /** Whether stdout is a terminal: the run view redraws in place and colors when it is. */
  isTTY: boolean;
  /** The terminal width in columns. @default 80 */
  columns?: number | undefined;
  /**
   * Aborted when the process is asked to stop (SIGINT, SIGTERM): `run` cancels the feature and exits 130,
   * `serve` closes the server and exits 0. The reason is the signal's name when the shim aborts it.
   */
  signal?: AbortSignal | undefined;
  /** The clock the live view throttles with. @default systemClock */
  clock?: Clock | undefined;
}

/** Whether to color output: only on a terminal, and never when `NO_COLOR` is set. */
export function colorFor(io: Pick<CliIo, 'isTTY' | 'env'>): boolean {
  return io.isTTY && (io.env.NO_COLOR ?? '') === '';
}
