import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { integerAtLeast } from '../src/cli/options.js';
import { memoryIo, STACK_LINE, tempDir } from './support/memoryIo.js';

async function ordo(argv: string[], cwd = process.cwd()) {
  const io = memoryIo({ cwd });
  const code = await main(argv, io.io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

describe('help and version', () => {
  it('prints the commands and the exit codes with --help, exit 0', async () => {
    const { code, stdout } = await ordo(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: ordo [options] [command]');
    for (const command of ['run [options] <plan>', 'status [options]', 'serve [options]', 'config']) {
      expect(stdout).toContain(command);
    }
    expect(stdout).toMatch(/130\s+interrupted/);
  });

  it.each([
    [
      ['run', '--help'],
      [
        '--launcher <kind>',
        '--image <ref>',
        '--workers <n>',
        '--resume',
        '--json',
        '--workspace <dir>',
        '--state <dir>',
        '--config <file>',
      ],
    ],
    [
      ['status', '--help'],
      ['--json', '--workspace <dir>', '--state <dir>'],
    ],
    [
      ['serve', '--help'],
      ['--port <port>', '--host <host>', '(default: "127.0.0.1")', '(default: 9464)'],
    ],
    [
      ['config', 'check', '--help'],
      ['[file]', '--json'],
    ],
    [['help', 'run'], ['Usage: ordo run [options] <plan>']],
  ])('%j documents its options, exit 0', async (argv, expected) => {
    const { code, stdout } = await ordo(argv);
    expect(code).toBe(0);
    for (const text of expected) expect(stdout).toContain(text);
    expect(stdout).toContain('Exit codes');
  });

  it('prints the package version with --version', async () => {
    const { code, stdout } = await ordo(['--version']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('prints the help to stderr and exits 2 without a command', async () => {
    const { code, stdout, stderr } = await ordo([]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('Usage: ordo');
  });

  it('exits 2 for `ordo config` without a subcommand', async () => {
    const { code, stderr } = await ordo(['config']);
    expect(code).toBe(2);
    expect(stderr).toContain('check [options] [file]');
  });
});

describe('usage errors exit 2 with CLI_USAGE, a hint and no stack', () => {
  it.each([
    [['frobnicate'], "Unknown command 'frobnicate'", 'ordo'],
    [['stauts'], '(Did you mean status?)', 'ordo'],
    [['run', 'plan.yaml', '--nope'], "Unknown option '--nope'", 'ordo run'],
    [['run'], "Missing required argument 'plan'", 'ordo run'],
    [['run', 'plan.yaml', '--workers', '0'], 'Expected a whole number ≥ 1', 'ordo run'],
    [['run', 'plan.yaml', '--workers', 'many'], "argument 'many' is invalid", 'ordo run'],
    [['run', 'plan.yaml', '--workers', '1.5'], 'Expected a whole number ≥ 1', 'ordo run'],
    [['run', 'plan.yaml', '--launcher', 'kubernetes'], 'Allowed choices are subprocess, docker', 'ordo run'],
    [['serve', '--port', '70000'], 'Expected a port from 0 to 65535', 'ordo serve'],
    [['status', 'extra'], 'Too many arguments', 'ordo status'],
    [['config', 'check', '--strict'], "Unknown option '--strict'", 'ordo config check'],
  ])('%j', async (argv, message, command) => {
    const { code, stdout, stderr } = await ordo(argv);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error CLI_USAGE: /);
    expect(stderr).toContain(message);
    expect(stderr).toContain(`hint: run "${command} --help" for the usage`);
    expect(stderr).not.toMatch(STACK_LINE);
  });
});

describe('ordo run with a missing plan', () => {
  it('exits 2 with CLI_PLAN_NOT_FOUND and a hint, before building a runtime', async () => {
    await using dir = await tempDir();
    const { code, stderr } = await ordo(['run', 'missing.yaml'], dir.path);
    expect(code).toBe(2);
    expect(stderr).toBe(
      'error CLI_PLAN_NOT_FOUND: The plan file missing.yaml does not exist or is not a file.\n' +
        'hint: pass the path of a .yaml, .yml or .json plan, relative to the current directory\n',
    );
  });

  it('refuses a directory as the plan', async () => {
    await using dir = await tempDir();
    const { code, stderr } = await ordo(['run', '.'], dir.path);
    expect(code).toBe(2);
    expect(stderr).toContain('error CLI_PLAN_NOT_FOUND');
  });

  it('prints the stack under --verbose', async () => {
    await using dir = await tempDir();
    const { code, stderr } = await ordo(['--verbose', 'run', 'missing.yaml'], dir.path);
    expect(code).toBe(2);
    expect(stderr).toContain('error CLI_PLAN_NOT_FOUND');
    expect(stderr).toMatch(STACK_LINE);
  });
});

describe('integerAtLeast', () => {
  it('accepts exactly the decimal integers at or above the minimum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.oneof(fc.integer({ min: -1000, max: 10_000 }).map(String), fc.string()),
        (min, text) => {
          const parse = integerAtLeast(min);
          const valid = /^\d+$/.test(text.trim()) && Number(text) >= min;
          if (valid) expect(parse(text)).toBe(Number(text));
          else expect(() => parse(text)).toThrow(`Expected a whole number ≥ ${min}.`);
        },
      ),
    );
  });
});
