import { ShellNotAllowedError } from '../errors.js';
import type { ScannedWord } from './shellLexer.js';

/**
 * The argument rules of the bash builtins that take variable names or run code from an option.
 *
 * Why: bash evaluates an array subscript in a variable name as arithmetic, and arithmetic expands
 * `$(…)` and evaluates the values of the variables it names, recursively. So `printf -v 'a[$(cmd)]' x`,
 * `read 'a[$(cmd)]'`, `test -v 'a[$(cmd)]'`, `unset 'a[$(cmd)]'`, `wait -p 'a[$(cmd)]'` and even
 * `test -v 'a[V]'` (with V holding `a[$(cmd)]`) run `cmd`. Other options take code outright
 * (`mapfile -C`, `jobs -x`). The root of it is one rule: wherever bash reads a variable name, the
 * policy accepts only a literal, lower-case plain name, so no subscript (no arithmetic) is ever reached
 * and no variable that bash or a program reads (`PATH`, `IFS`, `PS4`, `BASH_ENV`, `LD_PRELOAD`, …) is
 * ever assigned. Options are read as bash's own option parser reads them (clustered flags, attached or
 * separate arguments, `--`), and a word in an option or name position must be literal: an expansion
 * there could become `-v` or a subscript after the check.
 */

/** A plain, lower-case variable name: the only kind a builtin may be given. */
const NAME = /^[a-z_][a-z0-9_]*$/;
/** A plain name of any case (`test -v HOME` only reads, so upper case is fine there). */
const ANY_CASE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A word that is one of the numeric special parameters, quoted or not. */
const NUMERIC_SPECIAL = /^(?:"?\$(?:[!$?#]|\{[!$?#]\})"?)$/;

/** How one builtin reads its options (bash's `internal_getopt` letters, `x:` takes an argument). */
interface OptionSpec {
  /** bash's option letters; a letter followed by `:` takes an argument. */
  readonly letters: string;
  /** Options whose argument is a variable name. */
  readonly nameOptions?: string;
  /** Options that run code or change how later words resolve: refused. */
  readonly refused?: Readonly<Record<string, string>>;
}

interface Options {
  /** The options given, with their argument word. */
  readonly given: { letter: string; argument: ScannedWord | undefined }[];
  /** The words after the options. */
  readonly operands: ScannedWord[];
}

function refuse(word: string, reason: string): never {
  throw new ShellNotAllowedError(word, reason);
}

/** Requires a word that bash will see exactly as written (no expansion, no `$'…'`). */
function literal(word: ScannedWord, builtin: string, where: string): string {
  if (word.value === undefined) {
    refuse(word.raw, `${where} of ${builtin} must be written literally (no expansion, glob or $'…')`);
  }
  return word.value;
}

function checkName(word: ScannedWord, builtin: string): void {
  const name = literal(word, builtin, 'a variable name');
  if (!NAME.test(name)) {
    refuse(
      name,
      `${builtin} may only be given a plain lower-case variable name: subscripts are evaluated as code, and upper-case names are reserved for bash and the environment`,
    );
  }
}

/** Reads the options of `args` the way bash's internal_getopt does: it stops at `--` or the first operand. */
function readOptions(builtin: string, args: readonly ScannedWord[], spec: OptionSpec): Options {
  const given: Options['given'] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const word = args[i] as ScannedWord;
    // `$!`, `$$`, `$?` and `$#` always hold a number: an operand, never an option.
    if (NUMERIC_SPECIAL.test(word.raw)) break;
    if (word.value === undefined) {
      refuse(
        word.raw,
        `an option position of ${builtin} must be written literally: an expansion there could become an option`,
      );
    }
    const text = word.value;
    if (text === '--') {
      i++;
      break;
    }
    if (!text.startsWith('-') || text === '-') break;
    for (let at = 1; at < text.length; at++) {
      const letter = text[at] as string;
      const index = spec.letters.indexOf(letter);
      if (index === -1 || letter === ':')
        refuse(text, `-${letter} is not an option of ${builtin} this policy knows`);
      const refusal = spec.refused?.[letter];
      if (refusal) refuse(`-${letter}`, refusal);
      if (spec.letters[index + 1] !== ':') {
        given.push({ letter, argument: undefined });
        continue;
      }
      let argument: ScannedWord | undefined;
      if (at + 1 < text.length) {
        const rest = text.slice(at + 1);
        argument = { raw: rest, dynamic: false, multi: false, value: rest };
      } else {
        argument = args[++i];
        if (argument === undefined) refuse(text, `-${letter} of ${builtin} needs an argument`);
        if (argument.multi) {
          refuse(argument.raw, `the argument of -${letter} of ${builtin} must be one word (quote it)`);
        }
      }
      if (spec.nameOptions?.includes(letter)) checkName(argument, builtin);
      given.push({ letter, argument });
      break;
    }
  }
  return { given, operands: args.slice(i) };
}

/** Operands that must all be names (`read a b`, `unset a b`): none may be split or globbed into more. */
function allNames(builtin: string, operands: readonly ScannedWord[]): void {
  for (const word of operands) checkName(word, builtin);
}

const SET_REFUSED: Readonly<Record<string, string>> = {
  m: 'job control (set -m) puts jobs in their own process groups, out of reach of the pool: refused',
  k: 'set -k puts assignments anywhere on a command line into its environment (LD_PRELOAD=…): refused',
  a: 'set -a exports every variable assigned later, into the environment of allowed programs: refused',
};
const SET_O_REFUSED: Readonly<Record<string, string>> = {
  monitor: SET_REFUSED.m as string,
  keyword: SET_REFUSED.k as string,
  allexport: SET_REFUSED.a as string,
};
const SET_FLAGS = 'abefhkmnptuvxBCEHPT';

/** `set`: flags and `-o name` turn options on; `+` turns them off; the rest are positional parameters. */
function checkSet(args: readonly ScannedWord[]): void {
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as ScannedWord;
    const text = literal(word, 'set', 'an option position');
    if (text === '--' || text === '-') return;
    if ((text[0] !== '-' && text[0] !== '+') || text.length === 1) return;
    const on = text[0] === '-';
    for (const letter of text.slice(1)) {
      if (letter === 'o') {
        const nameWord = args[++i];
        if (nameWord === undefined) return; // `set -o` lists the options
        const option = literal(nameWord, 'set', 'the name after -o');
        const refusal = SET_O_REFUSED[option];
        if (on && refusal) refuse(`-o ${option}`, refusal);
        continue;
      }
      if (!SET_FLAGS.includes(letter)) refuse(text, `-${letter} is not an option of set this policy knows`);
      const refusal = SET_REFUSED[letter];
      if (on && refusal) refuse(`-${letter}`, refusal);
    }
  }
}

/** `shopt`: with `-o`, the names are `set -o` options and get the same refusals as in `set`. */
function checkShopt(args: readonly ScannedWord[]): void {
  const { given, operands } = readOptions('shopt', args, { letters: 'psuoq' });
  const letters = new Set(given.map((g) => g.letter));
  if (!letters.has('o')) return;
  for (const word of operands) {
    const option = literal(word, 'shopt', 'a -o option name');
    const refusal = SET_O_REFUSED[option];
    if (letters.has('s') && refusal) refuse(`-o ${option}`, refusal);
  }
}

/**
 * `test` and `[`: the operand of `-v` (and `-R`) is a variable name, evaluated with its subscript. Any word
 * that is or may be `-v` must be followed by a literal word without `[`; unquoted expansions and globs are
 * refused, since they could produce both.
 */
function checkTest(builtin: string, all: readonly ScannedWord[]): void {
  const args = builtin === '[' && all.at(-1)?.value === ']' ? all.slice(0, -1) : all;
  for (const [i, word] of args.entries()) {
    if (word.multi) {
      refuse(
        word.raw,
        `${builtin} takes only quoted expansions ("$x"): an unquoted one could become -v and a subscript`,
      );
    }
    const next = args[i + 1];
    if (next === undefined) continue;
    const mayBeNameOperator = word.value === undefined || word.value === '-v' || word.value === '-R';
    if (!mayBeNameOperator) continue;
    const operand = literal(next, builtin, 'the word after -v, -R or an expansion');
    if (operand.includes('[')) {
      refuse(operand, `${builtin} evaluates a subscript after -v as code: name a plain variable`);
    }
    if (word.value !== undefined && !ANY_CASE_NAME.test(operand)) {
      refuse(operand, `${builtin} ${word.value} needs a plain variable name`);
    }
  }
}

type Checker = (args: readonly ScannedWord[]) => void;

const withOptions =
  (builtin: string, spec: OptionSpec, operands: (o: ScannedWord[]) => void): Checker =>
  (args) =>
    operands(readOptions(builtin, args, spec).operands);

const MAPFILE: OptionSpec = {
  letters: 'd:u:n:O:tC:c:s:',
  refused: { C: 'mapfile -C runs its argument as a command for every line: refused' },
};

/** The builtins whose arguments the policy reads, by name. */
const CHECKERS: ReadonlyMap<string, Checker> = new Map<string, Checker>([
  [
    'read',
    withOptions('read', { letters: 'ersa:d:i:n:N:p:t:u:', nameOptions: 'a' }, (o) => allNames('read', o)),
  ],
  ['mapfile', withOptions('mapfile', MAPFILE, (o) => allNames('mapfile', o))],
  ['readarray', withOptions('readarray', MAPFILE, (o) => allNames('readarray', o))],
  ['printf', withOptions('printf', { letters: 'v:', nameOptions: 'v' }, () => {})],
  ['wait', withOptions('wait', { letters: 'fnp:', nameOptions: 'p' }, () => {})],
  ['unset', withOptions('unset', { letters: 'fnv' }, (o) => allNames('unset', o))],
  [
    'getopts',
    withOptions('getopts', { letters: '' }, (o) => {
      const [optstring, name] = o;
      if (optstring?.multi) refuse(optstring.raw, 'the option string of getopts must be one word (quote it)');
      if (name) checkName(name, 'getopts');
    }),
  ],
  [
    'jobs',
    withOptions(
      'jobs',
      { letters: 'lpnxrs', refused: { x: 'jobs -x runs its arguments as a command: refused' } },
      () => {},
    ),
  ],
  ['set', checkSet],
  ['shopt', checkShopt],
  ['test', (args) => checkTest('test', args)],
  ['[', (args) => checkTest('[', args)],
]);

/**
 * Checks the arguments of a builtin that takes variable names or code (see the module note); other
 * commands pass. Throws {@link ShellNotAllowedError} naming the refused word.
 */
export function checkBuiltinArguments(name: string, args: readonly ScannedWord[]): void {
  CHECKERS.get(name)?.(args);
}

/** The builtins {@link checkBuiltinArguments} reads (for tests and docs). */
export const CHECKED_BUILTINS: readonly string[] = [...CHECKERS.keys()];
