// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold shell syntax, not templates
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { quote } from 'shell-quote';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCommand, createShellPool, ShellNotAllowedError } from '../src/index.js';

const policy = { allow: ['ls', 'cat', 'echo', 'git', 'grep'] };
const compound = { ...policy, allowCompound: true };

function refusedWord(command: string, p: Parameters<typeof checkCommand>[1] = policy): string | undefined {
  try {
    checkCommand(command, p);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ShellNotAllowedError);
    return (error as ShellNotAllowedError).details?.word as string;
  }
}

describe('checkCommand: the injection corpus (refused without allowCompound)', () => {
  const corpus: [string, string][] = [
    ['ls; rm -rf /', ';'],
    ['ls && rm -rf /', '&&'],
    ['ls || rm -rf /', '||'],
    ['ls & rm -rf /', '&'],
    ['ls | sh', '|'],
    ['ls |& sh', '|&'],
    ['ls\nrm -rf /', 'newline'],
    ['ls\r\nrm', 'U+000D'],
    ['ls $(rm -rf /)', '$('],
    ['ls "$(rm -rf /)"', '$('],
    ['ls `rm -rf /`', '`'],
    ['ls "`rm -rf /`"', '`'],
    ['cat <(rm -rf /)', '<('],
    ['ls >(rm -rf /)', '>('],
    ['ls > /etc/passwd', '>'],
    ['cat < /etc/shadow', '<'],
    ['ls 2>&1', '>&'],
    ['ls &> out', '&>'],
    ['cat <<EOF', '<<'],
    ['(rm -rf /)', '('],
    ['rm -rf /', 'rm'],
    ['r\\m -rf /', 'rm'],
    ["'r'm -rf /", 'rm'],
    ['"rm" -rf /', 'rm'],
    ["$'\\x72\\x6d' -rf /", 'rm'],
    ['FOO=1 rm -rf /', 'FOO=1'],
    ['PATH=/tmp ls', 'PATH=/tmp'],
    ['LD_PRELOAD=/tmp/x.so ls', 'LD_PRELOAD=/tmp/x.so'],
    ['$IFS', '$IFS'],
    ['ls$IFS-la', 'ls$IFS-la'],
    ['${IFS}rm', '${IFS}rm'],
    ['$CMD -rf /', '$CMD'],
    ['{rm,-rf,/}', '{rm,-rf,/}'],
    ['/bin/r? -rf /', '/bin/r?'],
    ['~/bin/rm', '~/bin/rm'],
    ['exec rm -rf /', 'exec'],
    ['eval "rm -rf /"', 'eval'],
    ['source /tmp/evil.sh', 'source'],
    ['. /tmp/evil.sh', '.'],
    ['command rm -rf /', 'command'],
    ['builtin eval x', 'builtin'],
    ["'eval' x", 'eval'],
    ['ｒｍ -rf /', 'ｒｍ'],
    ['ls\u202e -la', 'U+202E'],
    ['l\u200bs', 'U+200B'],
    ['ls\u0000; rm', 'U+0000'],
    ['echo ${x:-$(rm -rf /)}', '${x:-$(rm -rf /)}'],
    ['echo $((1 + 2))', '$(('],
    ['echo $[1 + 2]', '$['],
    ['if true; then rm; fi', ';'],
    ['ls "unterminated', '"'],
    ["ls 'unterminated", "'"],
    ['ls `unterminated', '`'],
    ['ls $(unterminated', '$('],
    ['ls )', ')'],
  ];

  it('has more than 30 strings', () => expect(corpus.length).toBeGreaterThan(30));

  it.each(corpus)('%j is refused, naming %j', (command, word) => {
    expect(refusedWord(command)).toBe(word);
  });
});

describe('checkCommand: with allowCompound, every command word is checked', () => {
  it.each([
    ['ls | rm -rf /', 'rm'],
    ['ls; sh -c x', 'sh'],
    ['ls && $(rm x)', 'rm'],
    ['ls && $CMD', '$CMD'],
    ['echo "$(rm -rf /)"', 'rm'],
    ['echo `rm -rf /`', 'rm'],
    ['echo "`ls; rm x`"', 'rm'],
    ['cat <(echo a; rm b)', 'rm'],
    ['(ls; (cat; rm))', 'rm'],
    ['echo $(echo $(rm))', 'rm'],
    ['ls\nrm', 'rm'],
    ['ls & rm', 'rm'],
    ['if ls; then echo; fi', 'if'],
    ['while true; do ls; done', 'while'],
    ['{ ls; }', '{'],
    ['! ls', '!'],
    ['((x = 1))', '(('],
    ['f() { ls; }', '('],
    ['ls ;; rm', ';;'],
    ['; ls', ';'],
    ['ls | | cat', '|'],
    ['ls >', '>'],
    ['ls > ; rm', ';'],
    ['ls < <(rm)', '<'],
    ['cat <<< "$(rm)"', 'rm'],
  ])('%j is refused, naming %j', (command, word) => {
    expect(refusedWord(command, compound)).toBe(word);
  });

  it.each([
    'ls -la | grep x && echo found || echo none',
    'echo "$(ls)" `cat x`',
    'cat <(ls) > out 2>&1',
    '(ls; cat) & echo bg',
    'ls\necho next # a comment; rm',
    'git log --oneline | grep -v "rm -rf"',
    'cat <<< "$(echo hi)"',
  ])('%j is allowed', (command) => {
    expect(refusedWord(command, compound)).toBeUndefined();
  });
});

describe('checkCommand: what is allowed without allowCompound', () => {
  it.each([
    'ls -la',
    'ls "a; b" \'c | d\' e\\;f',
    "echo '$(not run)' \"\\$(not run either)\" '`nor this`'",
    'echo $HOME ${HOME} "$1" $? $#',
    'grep -r "foo|bar" src/*.ts',
    "git commit -m 'fix: a & b'",
    "$'l\\x73' -la",
    "'l's",
    'ls # trailing comment; rm -rf /',
    'echo a\\\nb',
    '',
    '   ',
  ])('%j is allowed', (command) => {
    expect(refusedWord(command)).toBeUndefined();
  });

  it('any input either passes or is refused with SHELL_NOT_ALLOWED, in both modes (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.boolean(), (line, allowCompound) => {
        refusedWord(line, { ...policy, allowCompound });
      }),
      { numRuns: 500 },
    );
  });

  it('quoted arguments are never refused (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme-ascii', minLength: 1 }), { maxLength: 6 }), (args) => {
        const printable = args.filter((a) => [...a].every((c) => c >= ' ' && c !== '\u007f'));
        expect(refusedWord(quote(['git', ...printable]))).toBeUndefined();
      }),
    );
  });
});

describe('checkCommand in a real bash: what it lets through runs only allowed programs (property)', () => {
  let bin: string;
  let log: string;
  beforeAll(async () => {
    bin = await mkdtemp(join(tmpdir(), 'ordo-policy-bin-'));
    log = join(bin, 'calls.log');
    for (const name of ['ls', 'cat', 'rm', 'sh', 'id', 'touch']) {
      await writeFile(join(bin, name), `#!/bin/bash\necho ${name} >> ${log}\n`);
      await chmod(join(bin, name), 0o755);
    }
  });
  afterAll(async () => {
    await rm(bin, { recursive: true, force: true });
  });

  it('random lines of shell syntax: accepted ones call ls and cat only', async () => {
    await using pool = createShellPool({ size: 1, shell: '/bin/bash', cwd: bin, env: { PATH: bin } });
    const token = fc.constantFrom(
      'ls',
      'cat',
      'rm',
      'sh',
      'id',
      ' ',
      ' ',
      ';',
      '|',
      '&&',
      '\n',
      '$(',
      ')',
      '`',
      "'",
      '"',
      '\\',
      '$',
      'IFS',
      '{',
      ',',
      '}',
      '<(',
      '>',
      'x',
      '=',
      '#',
      '*',
    );
    const strict = { allow: ['ls', 'cat'] };
    let executed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(token, { maxLength: 10 }), fc.boolean(), async (tokens, allowCompound) => {
        const line = tokens.join('');
        try {
          checkCommand(line, { ...strict, allowCompound });
        } catch {
          return;
        }
        await writeFile(log, '');
        await pool.run(line, { timeoutMs: 10_000 });
        executed++;
        const calls = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
        expect(calls.filter((c) => c !== 'ls' && c !== 'cat')).toEqual([]);
      }),
      { numRuns: 300 },
    );
    expect(executed).toBeGreaterThan(20);
  }, 120_000); // 300 runs in real bash, some with processes: slow on a loaded machine
});
