// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold shell syntax, not templates
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCommand, createShellPool, ShellNotAllowedError } from '../src/index.js';

/**
 * About 200 shell injection strings, each trying to create the marker file @M (by running `touch`, which
 * is not allowed, or by a builtin that evaluates code). Without allowCompound none may create it. With
 * allowCompound, only the strings tagged `writes` (redirections to a file, which allowCompound allows by
 * design) may, and they do: that is the documented difference.
 */
const T = '/usr/bin/touch @M';
const S = `'a[$(${T})]'`;
const corpus: (string | [string, 'writes'])[] = [
  // command substitution
  `echo $(${T})`,
  `echo "$(${T})"`,
  `echo \`${T}\``,
  `echo "\`${T}\`"`,
  `echo $(echo $(${T}))`,
  `echo $"$(${T})"`,
  `echo {a,b}$(${T})`,
  `echo $(</etc/hostname)`,
  // arithmetic and subscripts
  `echo $(( $(${T}) ))`,
  `echo $((a[$(${T})]))`,
  `echo $[a[$(${T})]]`,
  `((a[$(${T})]))`,
  `let ${S}`,
  'echo $((Q))',
  `[[ a[$(${T})] -eq 1 ]]`,
  `[[ -v a[$(${T})] ]]`,
  `test ${S} -eq 1`,
  `[ ${S} -eq 1 ]`,
  // parameter expansion forms
  `echo \${x:-$(${T})}`,
  `echo \${x:=$(${T})}`,
  `echo \${x:+$(${T})}`,
  `echo \${x[$(${T})]}`,
  `echo \${#x[$(${T})]}`,
  'echo ${!x}',
  `echo \${x/a/$(${T})}`,
  'echo ${Q@P}',
  'echo ${x@P}',
  'echo "${x[@]}"',
  'echo ${Q}',
  'echo $Q',
  'echo "$Q"',
  // process substitution, here-strings, here-documents
  `cat <(${T})`,
  `echo >(${T})`,
  `cat < <(${T})`,
  `cat <<< "$(${T})"`,
  `cat <<< $(${T})`,
  `cat <<EOF\n$(${T})\nEOF`,
  `cat <<-EOF\n$(${T})\nEOF`,
  "cat <<'EOF'\nx\nEOF",
  // braces and globs
  '{/usr/bin/touch,@M}',
  `echo {$(${T}),b}`,
  '/usr/bin/tou?h @M',
  '/usr/bin/touc* @M',
  '/usr/bin/[t]ouch @M',
  '/*/*/touch @M',
  '/usr/bin/{touch,x} @M',
  // IFS and splitting
  'IFS=/ echo x',
  `$IFS${T}`,
  `echo\${IFS}x; ${T}`,
  `ls$IFS;${T}`,
  'echo$IFS@M',
  // ANSI-C quoting and escapes
  "$'/usr/bin/touch' @M",
  "$'\\x2fusr\\x2fbin\\x2ftouch' @M",
  "$'\\164ouch' @M",
  `echo $'\\x3b' ${T}`,
  `echo $'\\n'${T}`,
  `echo $'\\$(${T})'`,
  '\\/usr\\/bin\\/touch @M',
  '"/usr/bin/touch" @M',
  "'/usr/bin/touch' @M",
  `echo \\$(${T})`,
  `echo '$(${T})'`,
  `echo "\\$(${T})"`,
  `echo -e '\\x24(${T})'`,
  `echo x\\;${T}`,
  `echo x';'${T}`,
  "ec''ho x",
  'e\\cho x',
  `"e"c'h'o x`,
  // newlines, CR, NUL and other control or invisible characters
  `echo\n${T}`,
  `echo\r${T}`,
  `echo x\r\n${T}`,
  `echo \0; ${T}`,
  `echo x\v${T}`,
  `echo x\f${T}`,
  `echo x\u001b${T}`,
  `echo x\u2028${T}`,
  `echo x\u0085${T}`,
  `echo\u00a0${T}`,
  `echo\u200b;${T}`,
  `echo \u202e;${T}`,
  `echo\u2066;${T}`,
  'ｔｏｕｃｈ @M',
  `echo\tx\t${T}`,
  // backslash-newline and comments
  `echo \\\n; ${T}`,
  '/usr/bin/tou\\\nch @M',
  'ec\\\nho x',
  `echo a \\\n ${T}`,
  `echo x #; ${T}`,
  `echo x#; ${T}`,
  `#\n${T}`,
  `# comment\n${T}`,
  `echo x # $(${T})`,
  // aliases and functions
  'alias echo=/usr/bin/touch',
  'shopt -s expand_aliases; alias ls=touch; ls @M',
  `echo() { ${T}; }`,
  `function echo { ${T}; }`,
  `echo () { ${T}; }; echo`,
  `f() (${T})`,
  // redirections to files (allowCompound allows them)
  ['echo x > @M', 'writes'],
  ['echo x >> @M', 'writes'],
  ['echo x >| @M', 'writes'],
  ['echo x &> @M', 'writes'],
  ['echo x 2> @M', 'writes'],
  ['echo x >& @M', 'writes'],
  ['cat /etc/hostname > @M', 'writes'],
  ['echo x <> @M', 'writes'],
  ['printf x 1>@M', 'writes'],
  ['echo x &>> @M', 'writes'],
  'echo 1>&2',
  'echo x 0<&-',
  // tilde
  '~root/../usr/bin/touch @M',
  '~/../../usr/bin/touch @M',
  '~+/x @M',
  'echo ~root',
  // assignments before a command, special variables
  'BASH_ENV=@M echo',
  `PATH=/usr/bin touch @M`,
  'LD_PRELOAD=/nonexistent.so echo',
  `PS4='$(${T})' set -x`,
  `PROMPT_COMMAND='${T}' echo`,
  `SHELLOPTS=xtrace PS4='$(${T})' echo`,
  `a[$(${T})]=1`,
  'x=1',
  `read PS4 <<< '$(${T})'; set -x; echo`,
  `printf -v PS4 %s '$(${T})'; set -x; echo`,
  'read PATH <<< /tmp; ls',
  'unset PATH; ls',
  'set -k; echo LD_PRELOAD=/nonexistent.so',
  'set -a; read -r x <<< y; echo',
  'shopt -s -o allexport; echo',
  // builtins that run code
  'enable -f /nonexistent.so x',
  'enable -n echo',
  `builtin eval ${T}`,
  `command ${T}`,
  `exec ${T}`,
  `eval '${T}'`,
  'source /dev/stdin',
  '. /dev/stdin',
  `trap '${T}' EXIT`,
  `compgen -W '$(${T})' x`,
  `compgen -C '${T}' x`,
  `complete -C '${T}' x`,
  'fc -e /usr/bin/touch',
  'hash -p /usr/bin/touch echo; echo @M',
  `declare -n x=${S}`,
  `typeset ${S}=1`,
  `export ${S}=1`,
  `local ${S}`,
  `readonly ${S}`,
  'history -w @M',
  `mapfile -C '${T}' -c 1 x`,
  `readarray -C '${T}' -c 1 x`,
  `jobs -x ${T}`,
  `jobs -lx ${T}`,
  // builtins that take variable names
  `printf -v ${S} x`,
  `printf -v'a[$(${T})]' x`,
  `printf -v "a[$(${T})]" x`,
  `printf -vx 'a[$(${T})]'`,
  `printf '%s' '$(${T})'`,
  `printf -- -v ${S}`,
  `printf '%d' ${S}`,
  `printf '%(%s)T' ${S}`,
  `read ${S}`,
  `read -r x ${S}`,
  `read -a ${S}`,
  `read -a'a[$(${T})]'`,
  `read -d '' ${S}`,
  "read -r 'b[Q]'",
  `test -v ${S}`,
  `test ! -v ${S}`,
  `test '(' -v ${S} ')'`,
  "test -v 'b[Q]'",
  'test -v "$Q"',
  `[ -v ${S} ]`,
  `[ -R ${S} ]`,
  `unset ${S}`,
  `unset -v ${S}`,
  `unset -f ${S}`,
  `wait -p ${S} -n`,
  `getopts a ${S} -a`,
  `mapfile -t ${S}`,
  `readarray ${S}`,
  `readarray -O ${S} x`,
  // globs that could hand a builtin an option and a subscript (files named -v and a[$(touch …)] exist)
  'printf *',
  'read *',
  'test *',
  '[ * ]',
  'unset *',
  'mapfile *',
  'echo *',
  'ls -- *',
  // keywords and compound commands
  `if true; then ${T}; fi`,
  `time ${T}`,
  `coproc ${T}`,
  `! ${T}`,
  `{ ${T}; }`,
  `case x in x) ${T};; esac`,
  `for x in 1; do ${T}; done`,
  `select x in 1; do ${T}; done`,
  `while ${T}; do break; done`,
  `(${T})`,
  `echo; ${T}`,
  `echo && ${T}`,
  `echo || ${T}`,
  `echo & ${T}`,
  `echo | ${T}`,
  `echo |& ${T}`,
  `echo x & disown`,
  '^echo^/usr/bin/touch',
  '/bin/echo x',
  './echo x',
  // job control and history
  'set -m; echo',
  'echo !!',
  'echo !$',
];

const allow = [
  'echo',
  'printf',
  'cat',
  'ls',
  'true',
  'read',
  'test',
  '[',
  'set',
  'unset',
  'wait',
  'mapfile',
  'readarray',
  'getopts',
  'shopt',
  'cd',
  'pwd',
];

let dir: string;
let cwd: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ordo-corpus-'));
  cwd = join(dir, 'cwd');
  await mkdir(join(dir, 'markers'));
  await mkdir(cwd);
  await writeFile(join(cwd, '-v'), '');
  await writeFile(join(cwd, 'a[$(touch globbed)]'), '');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function accepted(command: string, allowCompound: boolean): boolean {
  try {
    checkCommand(command, { allow, allowCompound });
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(ShellNotAllowedError);
    return false;
  }
}

const entries = corpus.map((entry, i) => {
  const [text, tag] = typeof entry === 'string' ? [entry, undefined] : entry;
  return { i, text, writes: tag === 'writes' };
});

describe('the shell injection corpus', () => {
  it('has about 200 strings', () => expect(corpus.length).toBeGreaterThanOrEqual(200));

  it.each([false, true])(
    'allowCompound %s: no string runs code it was not allowed to',
    { timeout: 120_000 },
    async (allowCompound) => {
      const markers = join(dir, 'markers');
      await using pool = createShellPool({
        size: 2,
        cwd,
        allow,
        allowCompound,
        timeoutMs: 5_000,
        env: { PATH: process.env.PATH, Q: `a[$(/usr/bin/touch ${join(markers, 'via-Q')})]` },
      });
      let ran = 0;
      const wrote: number[] = [];
      for (const { i, text, writes } of entries) {
        const command = text.replaceAll('@M', join(markers, `m${i}`));
        if (!accepted(command, allowCompound)) continue;
        ran++;
        await pool
          .run(command, { stdin: `$(/usr/bin/touch ${join(markers, `stdin${i}`)})\n` })
          .catch(() => {});
        if (writes) wrote.push(i);
      }
      const made = (await readdir(markers)).sort();
      expect(await readdir(cwd)).toEqual(expect.arrayContaining(['-v', 'a[$(touch globbed)]']));
      expect((await readdir(cwd)).length).toBe(2);
      if (allowCompound) {
        // Exactly the redirections wrote their file; nothing else made a marker.
        expect(made).toEqual(wrote.map((i) => `m${i}`).sort());
        expect(wrote.length).toBe(entries.filter((e) => e.writes).length);
      } else {
        expect(made).toEqual([]);
        expect(wrote).toEqual([]);
      }
      expect(ran).toBeGreaterThan(30);
      await rm(markers, { recursive: true, force: true });
      await mkdir(markers);
    },
  );

  it.each([
    'echo {1..30000000}',
    'echo {1..1000}{1..1000}',
    'echo {a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}',
    'echo {1..99999999999999999999}',
    'echo {a..z}{a..z}{a..z}{a..z}',
    'echo {0..100000000..2}',
    'echo {{1..400},{1..400}}{1..400}',
  ])('%j is refused before bash builds its expansion', (command) => {
    expect(accepted(command, false)).toBe(false);
    expect(accepted(command, true)).toBe(false);
  });

  it('bounded brace expansions still run', async () => {
    await using pool = createShellPool({ size: 1, allow: ['echo'] });
    expect((await pool.run('echo {1..3}{a,b} "{1..30000000}" \'{x,y}\'')).stdout).toBe(
      '1a 1b 2a 2b 3a 3b {1..30000000} {x,y}\n',
    );
    expect((await pool.run('echo {1..300}{1..300}')).stdout.split(' ')).toHaveLength(90_000);
  });
});
