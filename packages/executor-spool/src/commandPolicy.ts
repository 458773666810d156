import { lazyModule } from '@ordo/contracts';
import type * as ShellQuote from 'shell-quote';
import { ShellNotAllowedError, ShellOptionError } from './errors.js';
import { braceExpansionCount } from './internal/braceExpansion.js';
import { checkBuiltinArguments } from './internal/builtinArguments.js';
import { type ScannedWord, scanCommandLine } from './internal/shellLexer.js';

// Loaded by the first command checked, not by importing the package.
const shellQuote = lazyModule<typeof ShellQuote>(import.meta.url, 'shell-quote');

/** What {@link checkCommand} enforces. */
export interface CommandPolicy {
  /**
   * The command names that may run (`ls`, `git`, `/usr/bin/make`), compared exactly with the first word
   * of every command after quote removal.
   *
   * Gotchas: allow only programs that are safe with any arguments. Wrappers such as `env`, `xargs`,
   * `find` (`-exec`), `sudo`, `bash`, `sh` or `node` run their arguments as commands.
   */
  allow: readonly string[];
  /**
   * Allow pipes, lists (`;` `&&` `||` `&`, newlines), subshells, redirections and command / process
   * substitutions. Every command word inside them is still checked against `allow`.
   * @default false
   */
  allowCompound?: boolean | undefined;
}

/** Shell keywords: they start compound commands whose inner commands the policy does not follow. */
const KEYWORDS = new Set(
  'if then else elif fi case esac for select while until do done in function time coproc { } ! [[ ]]'.split(
    ' ',
  ),
);

/**
 * Builtins that run strings as code (directly, or through arithmetic on array subscripts), change how
 * later words resolve, or read and write files on their own. They are refused even when listed in `allow`.
 * The builtins that take variable names or code in an option (`read`, `printf -v`, `mapfile`, `test -v`,
 * `unset`, `wait -p`, `getopts`, `jobs -x`, `set`, `shopt -o`) have their arguments read instead (see
 * `internal/builtinArguments.ts`).
 */
const NEVER_ALLOWED = new Set(
  [
    'eval exec source . command builtin enable trap alias let declare typeset local readonly export fc bind',
    'hash compgen complete compopt history',
  ]
    .join(' ')
    .split(' '),
);

const FORMAT_CHARACTER = /\p{Cf}/u;
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=/;

/**
 * Checks a command line against an allowlist and throws {@link ShellNotAllowedError} naming the first
 * refused word or construct. The line is scanned by a strict bash lexer (quotes, escapes, `$'…'`,
 * substitutions at any depth), and each command word's value is taken from shell-quote; anything the two
 * do not read the same way is refused.
 *
 * Refused always: control and invisible format characters, here-documents, arithmetic (`$((…))`, `((…))`),
 * `${…}` expansions other than `${NAME}`, shell keywords, environment assignments before a command
 * (`FOO=1 ls`), a command word that expands (`$CMD`, `l?`, `{a,b}`, `~/x`), brace expansions past
 * 100,000 words, and the builtins that run strings (`eval`, `exec`, `source`, `.`, `command`, `builtin`,
 * `let`, `declare`, `compgen`, …). The builtins that take variable names (`read`, `printf -v`, `mapfile`,
 * `test -v`, `unset`, `wait -p`, `getopts`) accept only literal lower-case plain names, so no subscript
 * is ever evaluated; `mapfile -C`, `jobs -x`, `set -m`, `set -k` and `set -a` are refused.
 * Refused unless `allowCompound`: `;` `&&` `||` `&` `|` newlines, subshells, redirections, `$(…)`,
 * backticks and `<(…)` / `>(…)`.
 *
 * @example
 * ```ts
 * checkCommand('git status --short', { allow: ['git', 'ls'] }); // passes
 * checkCommand('git status; rm -rf /', { allow: ['git'] }); // throws SHELL_NOT_ALLOWED naming ";"
 * checkCommand('ls | rm x', { allow: ['ls'], allowCompound: true }); // throws naming "rm"
 * ```
 */
export function checkCommand(command: string, policy: CommandPolicy): void {
  const hidden = hiddenCharacter(command);
  if (hidden !== undefined) {
    const codePoint = `U+${hidden.toString(16).toUpperCase().padStart(4, '0')}`;
    throw new ShellNotAllowedError(codePoint, 'control and invisible format characters are refused');
  }
  const scan = scanCommandLine(command);
  const compound = scan.constructs[0];
  if (compound && !policy.allowCompound) {
    throw new ShellNotAllowedError(compound.token, `${compound.what} is refused unless allowCompound is set`);
  }
  const allowed = new Set(policy.allow);
  let expansions = 0;
  for (const words of scan.commands) {
    const name = checkCommandWord(words[0] as ScannedWord, allowed);
    checkBuiltinArguments(name, words.slice(1));
    for (const word of words) {
      if (word.multi) expansions += braceExpansionCount(word.raw);
    }
  }
  if (expansions > MAX_BRACE_WORDS) {
    throw new ShellNotAllowedError(
      command.length > 80 ? `${command.slice(0, 77)}...` : command,
      `its brace expansions make about ${expansions.toPrecision(3)} words, more than the ${MAX_BRACE_WORDS} allowed: bash would build them all in memory`,
    );
  }
}

/** The most words the brace expansions of one command line may produce. */
const MAX_BRACE_WORDS = 100_000;

/** The first control character other than tab and newline, or invisible format character (bidi, ZWJ). */
function hiddenCharacter(command: string): number | undefined {
  for (const character of command) {
    const code = character.codePointAt(0) as number;
    if (
      (code < 0x20 && code !== 0x09 && code !== 0x0a) ||
      code === 0x7f ||
      FORMAT_CHARACTER.test(character)
    ) {
      return code;
    }
  }
  return undefined;
}

/** Checks a command word and returns the command's name. */
function checkCommandWord(word: ScannedWord, allowed: ReadonlySet<string>): string {
  const { raw } = word;
  if (ASSIGNMENT.test(raw)) {
    throw new ShellNotAllowedError(
      raw,
      'environment assignments before a command are refused; pass variables through the env option',
    );
  }
  if (KEYWORDS.has(raw)) throw new ShellNotAllowedError(raw, 'shell keywords are refused');
  if (word.dynamic) {
    throw new ShellNotAllowedError(
      raw,
      'a command word must be a literal name, without parameters, globs, braces, tilde or substitutions',
    );
  }
  const parsed = shellQuote().parse(raw);
  const name = parsed[0];
  if (parsed.length !== 1 || typeof name !== 'string') {
    throw new ShellNotAllowedError(raw, 'the command word could not be read unambiguously');
  }
  if (NEVER_ALLOWED.has(name) || KEYWORDS.has(name)) {
    throw new ShellNotAllowedError(name, 'it runs its arguments as shell code and can never be allowed');
  }
  if (!allowed.has(name)) throw new ShellNotAllowedError(name, 'it is not in the allowlist');
  return name;
}

/** Validates an allowlist: every entry a non-empty name without blanks or shell metacharacters. */
export function validateAllowlist(allow: readonly string[]): void {
  for (const name of allow) {
    if (typeof name !== 'string' || (name !== '[' && !/^[^\s;&|<>()$`'"\\*?[\]{}~#=]+$/u.test(name))) {
      throw new ShellOptionError('allow', `${JSON.stringify(name)} is not a plain command name`);
    }
    if (NEVER_ALLOWED.has(name) || KEYWORDS.has(name)) {
      throw new ShellOptionError('allow', `${JSON.stringify(name)} runs its arguments as shell code`);
    }
  }
}
