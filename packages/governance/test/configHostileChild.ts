// Run by configHostile.test.ts in a child process: loads hostile YAML texts one after another in ONE process
// and prints the code each gave. A V8 abort (the old behaviour) kills this process with SIGABRT, which the
// test sees as a failed exit, instead of killing vitest.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/index.js';

const texts: Record<string, string> = {
  tabs: 'workers:\n\tmax: 2\n',
  brackets: `a: ${'['.repeat(1e5)}${']'.repeat(1e5)}`,
  braces: `a: ${'{a: '.repeat(5e4)}1${'}'.repeat(5e4)}`,
  dashes: `${'- '.repeat(1e5)}x\n`,
  questions: `${'? '.repeat(1e5)}x\n`,
  indents: Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n'),
  mixed: `a: ${'[{b: '.repeat(3e4)}1${'}]'.repeat(3e4)}`,
  laughs: [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ...Array.from(
      { length: 8 },
      (_, i) =>
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(',')}]`,
    ),
  ].join('\n'),
};
const dir = mkdtempSync(join(tmpdir(), 'ordo-config-hostile-'));
const out: Record<string, string> = {};
try {
  for (const [name, text] of Object.entries(texts)) {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, text);
    out[name] = await loadConfig({ file, env: {} }).then(
      () => 'loaded',
      (error: { code?: string; constructor: { name: string } }) => error.code ?? error.constructor.name,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out));
