// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold shell syntax, not templates
import { ShellNotAllowedError } from '../errors.js';

/** A word as written, with whether bash would expand it (parameters, globs, braces, tilde, substitutions). */
export interface ScannedWord {
  readonly raw: string;
  readonly dynamic: boolean;
  /**
   * Whether bash may turn the word into several words, or into words the text does not show: an unquoted
   * expansion (split and globbed), a glob, a brace, a tilde, `"$@"`.
   */
  readonly multi: boolean;
  /**
   * The word's value after quote removal, when it is certain: undefined for a dynamic word and for one that
   * uses `$'…'` or `$"…"` (read by shell-quote for command words, never trusted for arguments).
   */
  readonly value: string | undefined;
}

/** A construct that joins, nests or redirects commands (`;`, `|`, `$(`, `>`, …), as first written. */
export interface ScannedConstruct {
  readonly token: string;
  readonly what: string;
}

/** What a command line holds: every simple command (nested ones included) and every compound construct. */
export interface Scan {
  readonly commands: ScannedWord[][];
  readonly constructs: ScannedConstruct[];
}

const BLANK = new Set([' ', '\t']);
const META = new Set([' ', '\t', '\n', ';', '&', '|', '<', '>', '(', ')']);
// What may start a glob, a brace expansion or a tilde expansion (`]` and `}` alone are literal).
const EXPANDING = new Set(['*', '?', '[', '{', '~']);
const PLAIN_PARAMETER = /^#?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])$/;

const LIST_OPERATORS: readonly [string, string][] = [
  ['&&', 'an && list'],
  ['||', 'an || list'],
  ['|&', 'a pipe'],
  ['|', 'a pipe'],
  [';', 'a ; list'],
  ['&', 'a background &'],
  ['\n', 'a newline'],
];
const REDIRECTS = ['<<<', '&>>', '&>', '>>', '>&', '>|', '<&', '<>', '<', '>'];

/**
 * A strict scanner for the bash grammar a command line may use: quotes, escapes, `$'…'`, parameter
 * expansions, substitutions (recursively), lists, pipes, subshells and redirections. It finds structure
 * only; the value of a word is left to shell-quote. Whatever it cannot classify for sure is refused.
 */
export function scanCommandLine(line: string): Scan {
  const scan: Scan = { commands: [], constructs: [] };
  new Scanner(line, scan).list(undefined);
  return scan;
}

function refuse(word: string, reason: string): never {
  throw new ShellNotAllowedError(word, reason);
}

interface QuotedPart {
  readonly dynamic: boolean;
  readonly multi: boolean;
  readonly value: string;
}

class Scanner {
  #i = 0;
  /** What the last "…" held (read by the caller of `$"…"`). */
  #lastQuoted: QuotedPart = { dynamic: false, multi: false, value: '' };
  readonly #s: string;
  readonly #out: Scan;

  constructor(source: string, out: Scan) {
    this.#s = source;
    this.#out = out;
  }

  /** Scans commands until the end, or until the `)` that closes the nested list `opener` opened. */
  list(opener: string | undefined): void {
    const s = this.#s;
    let words: ScannedWord[] = [];
    let sawSubshell = false;
    let redirectTarget = false;
    const endCommand = (op: string) => {
      if (words.length === 0 && !sawSubshell && op !== '\n' && op !== 'end') {
        refuse(op, 'a list operator with no command before it is a syntax error');
      }
      if (words.length > 0) this.#out.commands.push(words);
      words = [];
      sawSubshell = false;
    };
    for (;;) {
      while (BLANK.has(s[this.#i] as string)) this.#i++;
      if (this.#i >= s.length) {
        if (opener) refuse(opener, `an opened ${opener} is never closed`);
        if (redirectTarget) refuse('>', 'a redirection has no target');
        endCommand('end');
        return;
      }
      const c = s[this.#i] as string;
      if (c === '#') {
        while (this.#i < s.length && s[this.#i] !== '\n') this.#i++;
        continue;
      }
      if (redirectTarget && META.has(c)) refuse(c, 'a redirection has no target');
      if (c === ')') {
        if (!opener) refuse(')', 'an unmatched ) is a syntax error');
        this.#i++;
        endCommand('end');
        return;
      }
      if (c === '<' || c === '>' || s.startsWith('&>', this.#i)) {
        redirectTarget = this.#redirect(words);
        continue;
      }
      const op = LIST_OPERATORS.find(([token]) => s.startsWith(token, this.#i));
      if (op) {
        if (s.startsWith(';;', this.#i) || s.startsWith(';&', this.#i))
          refuse(';;', 'case clauses are refused');
        this.#construct(op[0] === '\n' ? 'newline' : op[0], op[1]);
        this.#i += op[0].length;
        endCommand(op[0]);
        continue;
      }
      if (c === '(') {
        if (words.length > 0 || sawSubshell) refuse('(', 'function definitions and stray ( are refused');
        if (s[this.#i + 1] === '(') refuse('((', 'arithmetic commands are refused');
        this.#construct('(', 'a subshell');
        this.#i++;
        this.list('(');
        sawSubshell = true;
        continue;
      }
      const word = this.#word();
      if (redirectTarget) redirectTarget = false;
      else if (sawSubshell) refuse(word.raw, 'words after a subshell are a syntax error');
      else words.push(word);
    }
  }

  /**
   * Reads a redirection operator, or a process substitution (which is a word). Returns whether a target
   * word must follow.
   */
  #redirect(words: ScannedWord[]): boolean {
    const s = this.#s;
    if ((s[this.#i] === '<' || s[this.#i] === '>') && s[this.#i + 1] === '(') {
      const token = `${s[this.#i]}(`;
      this.#construct(token, 'a process substitution');
      this.#i += 2;
      this.list(token);
      words.push({ raw: `${token}…)`, dynamic: true, multi: true, value: undefined });
      return false;
    }
    if (s.startsWith('<<', this.#i) && !s.startsWith('<<<', this.#i)) {
      refuse('<<', 'here-documents are refused; pass input through the stdin option');
    }
    const token = REDIRECTS.find((r) => s.startsWith(r, this.#i)) as string;
    // An all-digit word right before the operator is its file descriptor, not an argument.
    const last = words.at(-1);
    if (last && /^[0-9]+$/.test(last.raw) && !BLANK.has(s[this.#i - 1] as string)) words.pop();
    this.#construct(token, 'a redirection');
    this.#i += token.length;
    return true;
  }

  #word(): ScannedWord {
    const s = this.#s;
    const start = this.#i;
    let dynamic = false;
    let multi = false;
    let value = '';
    let uncertain = false;
    while (this.#i < s.length) {
      const c = s[this.#i] as string;
      if (META.has(c)) break;
      if (c === '\\') {
        const next = s[this.#i + 1];
        if (next === undefined) value += '\\';
        else if (next !== '\n') value += next;
        this.#i += 2;
      } else if (c === "'") {
        const end = s.indexOf("'", this.#i + 1);
        if (end === -1) refuse("'", 'an opened single quote is never closed');
        value += s.slice(this.#i + 1, end);
        this.#i = end + 1;
      } else if (c === '"') {
        this.#i++;
        const quoted = this.#doubleQuoted();
        dynamic = quoted.dynamic || dynamic;
        multi = quoted.multi || multi;
        value += quoted.value;
      } else if (c === '$') {
        const next = s[this.#i + 1];
        if (next === "'" || next === '"') uncertain = true;
        const expands = this.#dollar(false);
        if (expands) {
          dynamic = true;
          multi = true;
        } else if (next !== "'" && next !== '"') value += '$';
        else if (next === '"') {
          dynamic = this.#lastQuoted.dynamic || dynamic;
          multi = this.#lastQuoted.multi || multi;
        }
      } else if (c === '`') {
        this.#backticks();
        dynamic = true;
        multi = true;
      } else {
        if (EXPANDING.has(c)) {
          dynamic = true;
          multi = true;
        }
        value += c;
        this.#i++;
      }
    }
    const raw = s.slice(start, Math.min(this.#i, s.length));
    // A `[` on its own matches no bracket: it is the test command, not a glob.
    if (raw === '[') return { raw, dynamic: false, multi: false, value: raw };
    return {
      raw,
      dynamic,
      multi,
      value: dynamic || uncertain ? undefined : value,
    };
  }

  /** Reads the inside of "…" (the opening quote already read): its value and whether it expands anything. */
  #doubleQuoted(): QuotedPart {
    const s = this.#s;
    let dynamic = false;
    let multi = false;
    let value = '';
    while (this.#i < s.length) {
      const c = s[this.#i] as string;
      if (c === '"') {
        this.#i++;
        this.#lastQuoted = { dynamic, multi, value };
        return this.#lastQuoted;
      }
      if (c === '\\') {
        const next = s[this.#i + 1] ?? '';
        if (next === '\n') {
          // A line continuation: removed.
        } else if ('$`"\\'.includes(next)) value += next;
        else value += `\\${next}`;
        this.#i += 2;
      } else if (c === '$') {
        // "$@" and "${@}" give one word per positional parameter.
        if (s[this.#i + 1] === '@' || s.startsWith('${@}', this.#i)) multi = true;
        if (this.#dollar(true)) dynamic = true;
        else value += '$';
      } else if (c === '`') {
        this.#backticks();
        dynamic = true;
      } else {
        value += c;
        this.#i++;
      }
    }
    return refuse('"', 'an opened double quote is never closed');
  }

  /** Reads what starts with `$`; returns whether it expands (a literal `$` does not). */
  #dollar(inDouble: boolean): boolean {
    const s = this.#s;
    const next = s[this.#i + 1];
    if (next === "'" && !inDouble) {
      let j = this.#i + 2;
      while (j < s.length && s[j] !== "'") j += s[j] === '\\' ? 2 : 1;
      if (j >= s.length) refuse("$'", "an opened $' quote is never closed");
      this.#i = j + 1;
      return false;
    }
    if (next === '"' && !inDouble) {
      this.#i += 2;
      this.#doubleQuoted();
      return false;
    }
    if (next === '(') {
      if (s[this.#i + 2] === '(') refuse('$((', 'arithmetic expansion is refused');
      this.#construct('$(', 'a command substitution');
      this.#i += 2;
      this.list('$(');
      return true;
    }
    if (next === '[') refuse('$[', 'arithmetic expansion is refused');
    if (next === '{') {
      const end = s.indexOf('}', this.#i + 2);
      const body = end === -1 ? s.slice(this.#i + 2) : s.slice(this.#i + 2, end);
      if (end === -1 || !PLAIN_PARAMETER.test(body)) {
        refuse(`\${${body}}`, 'only plain ${NAME} parameter expansions are allowed');
      }
      this.#i = end + 1;
      return true;
    }
    const name = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(s.slice(this.#i + 1));
    this.#i += 1 + (name ? name[0].length : 0);
    return name !== null;
  }

  /** Reads `…` and scans its inside as a nested command line. */
  #backticks(): void {
    const s = this.#s;
    let body = '';
    let j = this.#i + 1;
    while (j < s.length && s[j] !== '`') {
      if (s[j] === '\\' && j + 1 < s.length) {
        const escaped = s[j + 1] as string;
        body += '$`\\'.includes(escaped) ? escaped : `\\${escaped}`;
        j += 2;
      } else {
        body += s[j];
        j++;
      }
    }
    if (j >= s.length) refuse('`', 'an opened backtick is never closed');
    this.#construct('`', 'a backtick command substitution');
    new Scanner(body, this.#out).list(undefined);
    this.#i = j + 1;
  }

  #construct(token: string, what: string): void {
    this.#out.constructs.push({ token, what });
  }
}
