/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** A pino-style log method: `log(fields, msg)` or `log(msg)`. */
export interface LogFn {
  (fields: LogFields, msg?: string): void;
  (msg: string): void;
}

/**
 * The logging shape every ordo package accepts. It is the subset of pino's API that ordo uses, so a pino
 * logger can be passed as it is; so can anything with these five methods.
 *
 * Gotchas: ordo never logs through `console`. Pass a logger to see what a component does; the default is
 * {@link noopLogger}.
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger that adds `bindings` to every line (pino's `child`). */
  child(bindings: LogFields): Logger;
}

const ignore: LogFn = () => {};

/** A logger that drops everything. The default wherever a `logger` option is left out. */
export const noopLogger: Logger = {
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  child: () => noopLogger,
};
