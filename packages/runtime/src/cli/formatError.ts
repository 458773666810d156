import { isOrdoError } from '@ordo/contracts';
import { CliErrorCode } from './cliErrors.js';
import { ExitCode } from './exitCode.js';
import { hintForCode } from './hints.js';

/**
 * The text `ordo` prints for an error: `error CODE: message`, then `hint: …`: the error's own (a `hint`
 * property or `details.hint`), else the CLI's hint for its code. The stack and the cause chain only with
 * `verbose`.
 */
export function formatError(error: unknown, verbose: boolean): string {
  const lines = [headline(error)];
  const hint = hintOf(error);
  if (hint !== undefined) lines.push(`hint: ${hint}`);
  if (!verbose) return `${lines.join('\n')}\n`;
  if (error instanceof Error && error.stack !== undefined) lines.push('', error.stack);
  let cause = error instanceof Error ? error.cause : undefined;
  for (let depth = 0; cause !== undefined && depth < 8; depth++) {
    lines.push('', `caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return `${lines.join('\n')}\n`;
}

/** The exit code an error ends the command with: 2 for a wrong command line, 1 for everything else. */
export function exitCodeFor(error: unknown): ExitCode {
  return isOrdoError(error, CliErrorCode.USAGE) || isOrdoError(error, CliErrorCode.PLAN_NOT_FOUND)
    ? ExitCode.USAGE
    : ExitCode.FAILURE;
}

function headline(error: unknown): string {
  if (!(error instanceof Error) && !isOrdoError(error)) return `error: ${String(error)}`;
  const { code, message } = error as Error & { code?: unknown };
  return typeof code === 'string' ? `error ${code}: ${message}` : `error: ${message}`;
}

function hintOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const own = (error as { hint?: unknown }).hint;
  if (typeof own === 'string' && own !== '') return own;
  const details = (error as { details?: Readonly<Record<string, unknown>> }).details;
  if (typeof details?.hint === 'string' && details.hint !== '') return details.hint;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? hintForCode(code, details) : undefined;
}
