import { OrdoError, type OrdoErrorOptions } from '@ordo/contracts';

/** The stable codes of the errors the `ordo` CLI raises itself (the runtime's own errors keep their codes). */
export const CliErrorCode = {
  /** The command line is wrong: unknown command or option, a bad value, a missing argument. */
  USAGE: 'CLI_USAGE',
  /** The plan file given to `ordo run` does not exist or is not a file. */
  PLAN_NOT_FOUND: 'CLI_PLAN_NOT_FOUND',
  /** `ordo status` found no state file: nothing has run in that workspace yet. */
  NO_STATE: 'CLI_NO_STATE',
  /** `ordo verify` or `ordo replay` found no stored feature trace: that feature (or any) has not run here. */
  NO_TRACE: 'CLI_NO_TRACE',
} as const;

/** One of the {@link CliErrorCode} values. */
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** Options for the CLI errors: a `hint` printed under the message, plus the usual cause and details. */
export interface CliErrorOptions extends Omit<OrdoErrorOptions, 'code'> {
  /** What to try next, printed as `hint: …`. */
  hint?: string | undefined;
}

/** The base of the CLI's errors: an {@link OrdoError} with a `hint` line. */
export abstract class CliError extends OrdoError {
  abstract override readonly code: CliErrorCode;
  /** What to try next. */
  readonly hint: string | undefined;

  constructor(message: string, options: CliErrorOptions = {}) {
    const { hint, ...rest } = options;
    super(message, rest);
    this.hint = hint;
  }
}

/** The command line is wrong; the message is the parser's, the hint names the `--help` to read. */
export class CliUsageError extends CliError {
  override readonly code = CliErrorCode.USAGE;
}

/** `ordo run` was given a plan path that is not a file. */
export class PlanNotFoundError extends CliError {
  override readonly code = CliErrorCode.PLAN_NOT_FOUND;

  constructor(path: string) {
    super(`The plan file ${path} does not exist or is not a file.`, {
      hint: 'pass the path of a .yaml, .yml or .json plan, relative to the current directory',
      details: { path },
    });
  }
}

/** `ordo status` found no state file. */
export class NoStateError extends CliError {
  override readonly code = CliErrorCode.NO_STATE;

  constructor(file: string) {
    super(`No feature has run here yet: there is no state file at ${file}.`, {
      hint: 'run `ordo run <plan>` first, or point --state (or --workspace) at the directory a run used',
      details: { file },
    });
  }
}

/** `ordo verify` or `ordo replay` found no stored feature trace. */
export class NoTraceError extends CliError {
  override readonly code = CliErrorCode.NO_TRACE;

  constructor(where: string, feature?: string) {
    super(
      feature === undefined
        ? `No feature trace is stored in ${where}: no feature has finished here yet.`
        : `No trace of feature "${feature}" is stored in ${where}: it has not run here yet.`,
      {
        hint: 'run `ordo run <plan>` first, or point --state (or --workspace) at the directory a run used',
        details: { where, ...(feature === undefined ? {} : { feature }) },
      },
    );
  }
}
