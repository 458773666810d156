import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { CliUsageError } from './cliErrors.js';
import { configCheck } from './commands/configCheck.js';
import { replayCommand } from './commands/replay.js';
import { type RuntimeFactory, run } from './commands/run.js';
import { serve } from './commands/serve.js';
import { status } from './commands/status.js';
import { verify } from './commands/verify.js';
import { worker } from './commands/worker.js';
import { ExitCode } from './exitCode.js';
import { exitCodeFor, formatError } from './formatError.js';
import type { CliIo } from './io.js';
import { integerAtLeast, port } from './options.js';

/**
 * `createRuntime`, imported on first use: `ordo status`, `config check` and `--help` start without
 * loading the runtime's workers, spool and scheduler.
 */
const loadRuntime: RuntimeFactory = async (options) => {
  const { createRuntime } = await import('../runtime.js');
  return createRuntime(options);
};

/** The port `ordo serve` listens on without `--port`. */
export const DEFAULT_SERVE_PORT = 9464;

const EXIT_CODES_HELP = `
Exit codes:
  0    ok: the feature succeeded, the config is valid, the server stopped cleanly, the traces verify
  1    the feature failed, the config is invalid, a trace is tampered or a replay diverged, or a runtime
       error (printed with its code)
  2    usage error: unknown command or option, bad option value, missing plan file
  130  interrupted (SIGINT/SIGTERM): the run was cancelled, committed tasks stay committed`;

/**
 * Runs the `ordo` command line in-process and resolves to its exit code; never calls `process.exit`.
 * `argv` is the arguments after the program name (`process.argv.slice(2)`). Errors are printed to
 * `io.stderr` as `error CODE: message` and `hint: …`, with the stack only under `--verbose`.
 *
 * @example
 * ```ts
 * const code = await main(['run', 'plan.yaml', '--workers', '4'], {
 *   stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), isTTY: false,
 * });
 * ```
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCode.OK;
  const program = buildProgram(io, loadRuntime, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExit(error, argv, io);
    io.stderr.write(formatError(error, program.opts().verbose === true));
    return exitCodeFor(error);
  }
}

function buildProgram(io: CliIo, createRuntime: RuntimeFactory, setExit: (code: number) => void): Command {
  const program = new Command('ordo')
    .description(
      'Run feature plans (tasks in levels) on governed workers, show their status, verify and replay their traces, serve metrics.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--verbose', 'print the stack and causes of an error')
    .helpOption('-h, --help', 'show help for a command')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Usage errors are printed by `commanderExit` in the CLI's own `error CODE: message` form.
      outputError: () => {},
      getOutHelpWidth: () => io.columns ?? 80,
      getErrHelpWidth: () => io.columns ?? 80,
    })
    .addHelpText('after', `${EXIT_CODES_HELP}\n\nRun "ordo <command> --help" for a command's options.`);

  const runCommand = program
    .command('run')
    .description(
      'Run a feature plan to the end: a live status view on a terminal, one line per event otherwise.',
    )
    .argument('<plan>', 'the plan file (.yaml, .yml or .json)')
    .addOption(
      new Option('--launcher <kind>', 'where workers run')
        .choices(['subprocess', 'docker'])
        .default('subprocess'),
    )
    .option('--image <ref>', 'the worker image for --launcher docker (default: $ORDO_WORKER_IMAGE)')
    .option(
      '--workers <n>',
      'how many workers run at once (default: the config, workers.max)',
      integerAtLeast(1),
    )
    .option('--resume', 'pick up an unfinished feature: committed tasks are skipped, the rest run')
    .option(
      '--worker-listen <addr>',
      'run the tasks on remote workers (`ordo worker --connect`) joining at this endpoint: a unix socket path, 127.0.0.1:port, or host:port with --worker-tls-*',
    )
    .option(
      '--worker-token-file <file>',
      "the workers' credential file (made with a random token if missing)",
    )
    .option('--worker-tls-key <file>', "the endpoint's TLS key (PEM)")
    .option('--worker-tls-cert <file>', "the endpoint's TLS certificate (PEM)")
    .option('--worker-tls-ca <file>', 'the CA of worker certificates: mutual TLS (PEM)')
    .option(
      '--worker-tls-auto',
      'mutual TLS with a CA made for this endpoint; the worker credential files are printed',
    )
    .option('--json', 'print the FeatureResult as JSON instead of the progress view and summary')
    .option('--diff', 'print the unified diff of the changed files after the summary');
  workspaceOptions(runCommand, { config: true })
    .addHelpText(
      'after',
      '\nExit codes: 0 succeeded, 1 a task failed, 2 usage error or missing plan, 130 interrupted.\n' +
        'Example:\n  ordo run plan.yaml --workers 4 --workspace ./repo',
    )
    .action(async (plan: string, flags) => setExit(await run(plan, flags, io, createRuntime)));

  const statusCommand = program
    .command('status')
    .description("Show the last or current feature's progress, levels and workers from the state file.")
    .option('--json', 'print the feature metrics as JSON');
  workspaceOptions(statusCommand, { config: false })
    .addHelpText('after', '\nExit codes: 0 shown, 1 no state file (nothing has run) or a corrupt one.')
    .action(async (flags) => setExit(await status(flags, io)));

  const verifyCommand = program
    .command('verify')
    .description(
      'Check the stored feature traces (hash chains) and name the first tampered entry of a bad one.',
    )
    .option('--json', 'print one JSON object per trace');
  workspaceOptions(verifyCommand, { config: false })
    .addHelpText(
      'after',
      '\nExit codes: 0 every trace verifies, 1 one does not (its entry is named) or none is stored.',
    )
    .action(async (flags) => setExit(await verify(flags, io)));

  const replayCmd = program
    .command('replay')
    .description(
      "Run a plan again in a copy of the workspace as it was before the feature and compare it with the feature's stored trace.",
    )
    .argument('<plan>', 'the plan file (.yaml, .yml or .json) the trace was made with')
    .option('--workers <n>', 'how many workers run at once (default: the config)', integerAtLeast(1))
    .option('--json', 'print { ok, feature, digest, divergence } as JSON');
  workspaceOptions(replayCmd, { config: true })
    .addHelpText(
      'after',
      '\nExit codes: 0 the run reproduces the trace, 1 it diverges (the first divergent task is named), the trace does not verify or none is stored, 2 usage error.',
    )
    .action(async (plan: string, flags) => setExit(await replayCommand(plan, flags, io, createRuntime)));

  const serveCommand = program
    .command('serve')
    .description('Serve /health, /metrics (Prometheus) and /status over HTTP until SIGINT or SIGTERM.')
    .option('--port <port>', 'the port; 0 picks a free one', port, DEFAULT_SERVE_PORT)
    .option('--host <host>', 'the address to listen on', '127.0.0.1')
    .option(
      '--worker-listen <addr>',
      'serve a worker endpoint for `ordo worker --connect`: a unix socket path, 127.0.0.1:port, or host:port with --worker-tls-*',
    )
    .option(
      '--worker-token-file <file>',
      "the workers' credential file (made with a random token if missing)",
    )
    .option('--worker-tls-key <file>', "the endpoint's TLS key (PEM)")
    .option('--worker-tls-cert <file>', "the endpoint's TLS certificate (PEM)")
    .option('--worker-tls-ca <file>', 'the CA of worker certificates: mutual TLS (PEM)')
    .option(
      '--worker-tls-auto',
      'mutual TLS with a CA made for this endpoint; the worker credential files are printed',
    )
    .option('--workers <n>', 'how many workers the pool keeps (default: the config)', integerAtLeast(1));
  workspaceOptions(serveCommand, { config: true })
    .addHelpText('after', '\nExit codes: 0 stopped cleanly, 1 could not start (port in use, bad config).')
    .action(async (flags) => setExit(await serve(flags, io, createRuntime)));

  program
    .command('worker')
    .description(
      "Run this process as a worker: joins a runtime's worker endpoint with --connect, else serves IPC v1 on stdin/stdout.",
    )
    .option(
      '--connect <url>',
      'the endpoint: unix:///path.sock, tcp://127.0.0.1:port or tls://host:port (default: $ORDO_WORKER_CONNECT)',
    )
    .option('--token-file <file>', 'the credential file the runtime wrote (default: $ORDO_WORKER_TOKEN_FILE)')
    .option('--worker-id <id>', 'the id a starter gave this worker (default: $ORDO_WORKER_ID)')
    .option('--tls-ca <file>', "the CA of the endpoint's certificate (PEM; default: $ORDO_WORKER_TLS_CA)")
    .option(
      '--tls-cert <file>',
      "this worker's certificate, for mutual TLS (PEM; default: $ORDO_WORKER_TLS_CERT)",
    )
    .option(
      '--tls-key <file>',
      "this worker's private key, for mutual TLS (PEM; default: $ORDO_WORKER_TLS_KEY)",
    )
    .option('--allow-insecure', 'allow tcp:// to a host that is not loopback')
    .option(
      '--max-attempts <n>',
      'failed connection attempts in a row before giving up (default: unlimited)',
      integerAtLeast(1),
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 the host shut down or the worker was stopped (SIGINT/SIGTERM), 1 refused (wrong token, other version) or unreachable after --max-attempts, 2 usage error.\n' +
        'Example:\n  ordo worker --connect tls://build-host:7070 --token-file /run/secrets/ordo-worker --tls-ca ca.pem',
    )
    .action(async (flags) => setExit(await worker(flags, io)));

  program
    .command('config')
    .description('Check ordo config files.')
    .command('check')
    .description(
      'Validate a config file (defaults, the file, ORDO_* environment overrides) and list every problem.',
    )
    .argument('[file]', 'the YAML config (default: ordo.yaml in the current directory, if any)')
    .option('--json', 'print the resolved config as JSON')
    .addHelpText(
      'after',
      '\nExit codes: 0 valid, 1 invalid or unreadable (every bad key is printed with its path).',
    )
    .action(async (file: string | undefined, flags) => setExit(await configCheck(file, flags, io)));

  return program;
}

/** Adds `--workspace`, `--state` and (for commands that build a runtime) `--config`. */
function workspaceOptions(command: Command, { config }: { config: boolean }): Command {
  command
    .option('--workspace <dir>', 'the directory task edits apply to (default: the current directory)')
    .option('--state <dir>', 'where the state file lives (default: <workspace>/.ordo)');
  if (config)
    command.option(
      '--config <file>',
      'the YAML config (default: ordo.yaml in the current directory, if any)',
    );
  return command;
}

/** Help and version exit 0; every other parser error is printed as CLI_USAGE and exits 2. */
function commanderExit(error: CommanderError, argv: readonly string[], io: CliIo): number {
  // Help asked for (`--help`, `ordo help run`) exits 0; help shown because a command is missing (`ordo`,
  // `ordo config`) was printed to stderr and exits 2.
  if (['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code)) {
    return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  const message = error.message.replace(/^error: /, '');
  const usage = new CliUsageError(`${message.charAt(0).toUpperCase()}${message.slice(1)}`, {
    hint: `run "${commandPath(argv)} --help" for the usage`,
  });
  io.stderr.write(formatError(usage, false));
  return ExitCode.USAGE;
}

/** `ordo run`, `ordo config check`, … for the command `argv` names, or `ordo`. */
function commandPath(argv: readonly string[]): string {
  const [first, second] = argv;
  if (first === 'config' && second === 'check') return 'ordo config check';
  return first !== undefined &&
    ['run', 'status', 'serve', 'verify', 'replay', 'worker', 'config'].includes(first)
    ? `ordo ${first}`
    : 'ordo';
}

function packageVersion(): string {
  // The bundle may put this code in dist/cli/ or in a shared chunk in dist/: walk up to our package.json.
  const require = createRequire(import.meta.url);
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(candidate) as { name?: string; version: string };
      if (pkg.name === '@ordo/runtime') return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}
