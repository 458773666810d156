// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold shell syntax, not templates
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCommand, createShellPool, ShellNotAllowedError } from '../src/index.js';

/**
 * Every builtin of the machine's bash, tried with every way a builtin takes a variable name or code: a
 * subscript that runs `$(touch …)`, a subscript naming a variable whose value runs it, and the options
 * that run code (`-C`, `-x`, `-W`, `-F`). Each attack either is refused by the policy or runs in a real
 * bash and creates no marker file.
 */
const builtins = execFileSync('bash', ['--norc', '--noprofile', '-c', 'compgen -b'], { encoding: 'utf8' })
  .split('\n')
  .filter(Boolean);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ordo-builtins-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Attack templates: @B is the builtin, @M a marker path the attack tries to create. */
const TOUCH = "$(/usr/bin/touch '@M')";
const SUB = `'a[${TOUCH}]'`;
const TEMPLATES = [
  `@B ${SUB}`,
  `@B ${SUB} x`,
  `@B x ${SUB}`,
  `@B -- ${SUB}`,
  `@B ${SUB}=1`,
  `@B "a[${TOUCH}]"`,
  `@B $'a[\\x24(/usr/bin/touch @M)]'`,
  `@B 'PIPESTATUS[${TOUCH}]'`,
  `@B 'BASH_ALIASES[${TOUCH}]'`,
  "@B 'a[Q]'",
  "@B -v 'b[Q]' x",
  `@B -v ${SUB} x`,
  `@B -v'a[${TOUCH}]' x`,
  `@B -p ${SUB}`,
  `@B -a ${SUB}`,
  `@B -ra ${SUB}`,
  `@B -A ${SUB}`,
  `@B -n ${SUB}`,
  `@B -fnp ${SUB}`,
  `@B -t ${SUB}`,
  `@B -u ${SUB}`,
  `@B -O ${SUB} x`,
  `@B -d ${SUB}`,
  `@B -s ${SUB}`,
  `@B -l ${SUB}`,
  `@B -R ${SUB}`,
  `@B -N ${SUB}`,
  `@B -i ${SUB}`,
  `@B -o ${SUB}`,
  `@B ! -v ${SUB}`,
  `@B x -a -v ${SUB}`,
  `@B ${SUB} -eq 1`,
  `@B '%d' ${SUB}`,
  `@B ab ${SUB} -a`,
  "@B -C '/usr/bin/touch @M' -c 1 x",
  "@B -c 1 -C '/usr/bin/touch @M' x",
  '@B -x /usr/bin/touch @M',
  '@B -lx /usr/bin/touch @M',
  `@B -W '${TOUCH}' x`,
  '@B -F f x',
  '@B -f /tmp/none.so x',
];

function attack(template: string, builtin: string, marker: string): string {
  const line = template.replaceAll('@B', builtin).replaceAll('@M', marker);
  return builtin === '[' ? `${line} ]` : line;
}

function refused(command: string, allow: string[], allowCompound: boolean): boolean {
  try {
    checkCommand(command, { allow, allowCompound });
    return false;
  } catch (error) {
    expect(error).toBeInstanceOf(ShellNotAllowedError);
    return true;
  }
}

describe('every bash builtin: attacks through variable names and code-taking options create nothing', () => {
  it('the machine has a bash with the builtins this suite is about', () => {
    for (const name of ['printf', 'read', 'test', '[', 'mapfile', 'readarray', 'unset', 'wait', 'getopts']) {
      expect(builtins).toContain(name);
    }
    expect(builtins.length).toBeGreaterThan(50);
  });

  it.each([false, true])(
    'allowCompound %s: no attack runs $(…)',
    { timeout: 120_000 },
    async (allowCompound) => {
      const allowable = builtins.filter((b) => {
        try {
          createShellPool({ allow: [b] }).close();
          return true;
        } catch {
          return false;
        }
      });
      // The never-allowed ones are refused as command words too.
      for (const b of builtins.filter((name) => !allowable.includes(name))) {
        expect(refused(`${b} x`, [...allowable], allowCompound)).toBe(true);
      }
      await using pool = createShellPool({
        size: 4,
        cwd: dir,
        allow: allowable,
        allowCompound,
        timeoutMs: 3_000,
        env: { PATH: process.env.PATH, Q: `a[${TOUCH.replace('@M', join(dir, 'via-Q'))}]` },
      });
      let ran = 0;
      let checked = 0;
      const runs: Promise<unknown>[] = [];
      for (const [b, builtin] of allowable.entries()) {
        for (const [t, template] of TEMPLATES.entries()) {
          const command = attack(template, builtin, join(dir, `m-${b}-${t}`));
          checked++;
          if (refused(command, allowable, allowCompound)) continue;
          ran++;
          runs.push(
            pool.run(command, { stdin: 'l1\nl2\nl3\n' }).catch((e) => {
              if (process.env.DEBUG_BUILTINS) console.log(command, e.code);
            }),
          );
        }
      }
      await Promise.all(runs);
      expect(checked).toBeGreaterThan(1_500);
      if (process.env.DEBUG_BUILTINS) console.log({ checked, ran });
      expect(ran).toBeGreaterThan(100);
      expect(await readdir(dir)).toEqual([]);
    },
  );

  it('with allowCompound, a name read at run time cannot reach a name position', async () => {
    const allow = ['read', 'test', '[', 'printf', 'set', 'unset', 'mapfile', 'wait', 'getopts', 'echo'];
    const marker = join(dir, 'runtime');
    const lines = [
      `read x <<< 'a[${TOUCH}]'; test -v "$x"`,
      `read x <<< 'a[${TOUCH}]'; [ -v "$x" ]`,
      `read x <<< 'a[${TOUCH}]'; printf -v "$x" y`,
      `read x <<< 'a[${TOUCH}]'; read "$x" <<< 1`,
      `read x <<< 'a[${TOUCH}]'; unset "$x"`,
      `read x <<< 'a[${TOUCH}]'; mapfile "$x" <<< 1`,
      `read x <<< 'a[${TOUCH}]'; getopts a "$x" -a`,
      `set -- -v 'a[${TOUCH}]'; printf "$@" x`,
      `set -- -v 'a[${TOUCH}]'; test "$@"`,
      `set -- 'a[${TOUCH}]'; read "$@" <<< 1`,
      `read o <<< -v; printf "$o" 'a[${TOUCH}]' x`,
      `read o <<< -v; test "$o" 'a[${TOUCH}]'`,
      `read o <<< '-va[${TOUCH}]'; printf "$o" x`,
      `read o <<< '-v a[${TOUCH}]'; printf $o x`,
      `read o <<< '-v a[${TOUCH}]'; test $o`,
      `read PS4 <<< '${TOUCH}'; set -x; echo`,
      `read PATH <<< '${dir}'; echo`,
      `printf -v PS4 '%s' '${TOUCH}'; set -x; echo`,
      `set -k; echo BASH_ENV=${marker}`,
      `set -a; read -r ld_preload <<< x; echo`,
      `set -m; echo`,
      `shopt -s -o monitor; echo`,
    ].map((line) => line.replaceAll('@M', marker));
    await using pool = createShellPool({ size: 1, cwd: dir, allow, allowCompound: true, timeoutMs: 3_000 });
    for (const line of lines) {
      expect(refused(line, allow, true), line).toBe(true);
      await expect(pool.run(line)).rejects.toMatchObject({ code: 'SHELL_NOT_ALLOWED' });
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('legitimate uses of these builtins still run', async () => {
    const allow = [
      'read',
      'test',
      '[',
      'printf',
      'set',
      'unset',
      'mapfile',
      'wait',
      'getopts',
      'echo',
      'sleep',
    ];
    await using pool = createShellPool({ size: 1, allow, allowCompound: true });
    const cases: [string, string][] = [
      ['read -r first second <<< "a b"; printf "%s|%s" "$first" "$second"', 'a|b'],
      ['printf -v out "%03d" 7; echo "$out"', '007\n'],
      ['mapfile -t lines <<< $\'x\\ny\'; echo "${#lines}"', '1\n'],
      ['test -v HOME && echo set', 'set\n'],
      ['x=1; [ "$x" = 1 ] && echo eq', ''],
      ['[ -n "$HOME" ] && echo nonempty', 'nonempty\n'],
      ['set -eu -o pipefail; echo strict', 'strict\n'],
      ['sleep 0.01 & wait $!; echo waited', 'waited\n'],
      ['unset nothing; echo unset', 'unset\n'],
    ];
    for (const [line, stdout] of cases) {
      if (line.startsWith('x=1')) {
        expect(refused(line, allow, true)).toBe(true); // assignments stay refused
        continue;
      }
      expect((await pool.run(line)).stdout, line).toBe(stdout);
    }
  });
});
