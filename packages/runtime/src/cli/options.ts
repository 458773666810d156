import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { DEFAULT_STATE_DIR } from '../internal/stateLayout.js';

/** The config file `ordo` reads from the working directory when no `--config` is given and it exists. */
export const DEFAULT_CONFIG_FILE = 'ordo.yaml';

/** Parses a whole number ≥ `min` for commander; anything else is a usage error naming what was expected. */
export function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`Expected a whole number ≥ ${min}.`);
    }
    return n;
  };
}

/** Parses a TCP port (0 picks a free one) for commander. */
export function port(value: string): number {
  const n = integerAtLeast(0)(value);
  if (n > 65_535) throw new InvalidArgumentError('Expected a port from 0 to 65535 (0 picks a free one).');
  return n;
}

/** The workspace options every command that touches a workspace takes. */
export interface WorkspaceFlags {
  workspace?: string | undefined;
  state?: string | undefined;
  config?: string | undefined;
}

/** The absolute paths a command works with, resolved against the working directory. */
export interface WorkspacePaths {
  workspace: string;
  stateDir: string;
  /** The config file: `--config`, else `ordo.yaml` in the working directory when it exists. */
  configFile: string | undefined;
}

/** Resolves `--workspace`, `--state` and `--config` against `cwd`, with the runtime's defaults. */
export function workspacePaths(flags: WorkspaceFlags, cwd: string): WorkspacePaths {
  const workspace = resolve(cwd, flags.workspace ?? '.');
  return {
    workspace,
    stateDir: flags.state === undefined ? join(workspace, DEFAULT_STATE_DIR) : resolve(cwd, flags.state),
    configFile: configFileFor(flags.config, cwd),
  };
}

/** `--config` resolved against `cwd`, else `ordo.yaml` in `cwd` when it exists, else none. */
export function configFileFor(flag: string | undefined, cwd: string): string | undefined {
  if (flag !== undefined) return resolve(cwd, flag);
  const fallback = join(cwd, DEFAULT_CONFIG_FILE);
  return existsSync(fallback) ? fallback : undefined;
}
