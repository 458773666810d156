import { loadConfig } from '@ordo/governance';
import { ExitCode } from '../exitCode.js';
import type { CliIo } from '../io.js';
import { configFileFor } from '../options.js';

/** The flags of `ordo config check`. */
export interface ConfigCheckFlags {
  /** Print the resolved config as JSON. */
  json?: boolean | undefined;
}

/**
 * `ordo config check [file]`: loads the config the way the runtime does (defaults, the file, `ORDO_*`
 * overrides from the environment) and says whether it is valid. An invalid config throws
 * `CONFIG_INVALID`, whose message lists every bad key path with its value, source and what was expected.
 */
export async function configCheck(
  file: string | undefined,
  flags: ConfigCheckFlags,
  io: CliIo,
): Promise<ExitCode> {
  const path = configFileFor(file, io.cwd);
  const config = await loadConfig({ file: path, env: io.env, signal: io.signal });
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return ExitCode.OK;
  }
  const what = path === undefined ? 'the defaults and the environment' : path;
  io.stdout.write(
    `✓ config OK: ${what}\n` +
      `  workers.max=${config.workers.max} workers.heapMb=${config.workers.heapMb} queue.maxDepth=${config.queue.maxDepth}\n`,
  );
  return ExitCode.OK;
}
