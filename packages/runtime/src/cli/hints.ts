/** A hint, or a function of the error's `details` that picks one. */
type Hint = string | ((details: Readonly<Record<string, unknown>>) => string);

/** For `RUNTIME_OPTIONS_INVALID`, the CLI flag behind each runtime option (`details.option`). */
const OPTION_HINTS: Readonly<Record<string, string>> = {
  workspace: 'pass an existing directory with --workspace (default: the current directory)',
  workers: 'pass --workers with a whole number ≥ 1, or set workers.max in the config',
  'docker.image': 'pass the worker image with --image <ref>, or set ORDO_WORKER_IMAGE',
};

/**
 * What to try next for the error codes a CLI user meets most, printed as `hint: …` when the error does not
 * carry a hint of its own. Codes are the stable ones of `@ordo/runtime`, `@ordo/governance` and
 * `@ordo/launcher`, and Node's system error codes; the messages already say what went wrong.
 */
const HINTS: Readonly<Record<string, Hint>> = {
  PLAN_INVALID:
    'a plan needs `feature` and `tasks`, each task an `id`, `files` and `run: { shell }` or `run: { module }`; see the plan format in the @ordo/runtime README',
  PLAN_UNREADABLE: 'pass a readable .yaml, .yml or .json plan file',
  RESUME_MISMATCH:
    'run without --resume to start the feature over, or restore the plan the interrupted run used',
  RESUME_WORKSPACE_CHANGED:
    'restore the listed files (or revert your edits to them), or run without --resume to start the feature over',
  RUNTIME_OPTIONS_INVALID: (details) =>
    OPTION_HINTS[String(details.option)] ?? 'check the options against `ordo <command> --help`',
  CONFIG_INVALID:
    'fix the keys listed above; `ordo config check <file>` checks a config without running anything',
  CONFIG_UNREADABLE: 'pass an existing YAML file with --config, or leave it out to use the defaults',
  STATE_CORRUPT: 'the state file and its backup are unreadable; remove the state directory to start over',
  STATE_VERSION_UNSUPPORTED: 'the state file was written by a newer ordo; upgrade @ordo/runtime',
  LAUNCHER_ENGINE_UNAVAILABLE:
    'start a Docker engine (or set DOCKER_HOST), or run with --launcher subprocess',
  EADDRINUSE: 'the port is taken: pass another with --port, or --port 0 for a free one',
  LAUNCHER_IMAGE_NOT_FOUND: 'pull or build the worker image first, or run with --launcher subprocess',
};

/** The CLI's hint for an error code (given the error's details), if it has one. */
export function hintForCode(
  code: string,
  details: Readonly<Record<string, unknown>> = {},
): string | undefined {
  const hint = HINTS[code];
  return typeof hint === 'function' ? hint(details) : hint;
}
