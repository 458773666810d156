/**
 * The `ordo` CLI as a function, for hosts that embed it (their own binary, a test): `main(argv, io)` runs one
 * command against the streams, environment and working directory in `io` and resolves to the exit code; it
 * never calls `process.exit`.
 *
 * @example
 * ```js
 * import { main } from '@ordo/runtime/cli';
 *
 * const code = await main(['status', '--json'], {
 *   stdout: process.stdout,
 *   stderr: process.stderr,
 *   env: process.env,
 *   cwd: process.cwd(),
 *   isTTY: false,
 * });
 * process.exitCode = code;
 * ```
 */
export { ExitCode } from './exitCode.js';
export type { CliIo, CliOutput } from './io.js';
export { main } from './main.js';
