import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

describe('what the published package holds', () => {
  it('ships every document the README links to', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { files: string[] };
    const linked = [...readme.matchAll(/\]\(([A-Za-z0-9_./-]+\.md)(?:#[^)]*)?\)/g)]
      .map((m) => m[1] as string)
      .filter((href) => !href.startsWith('../') && !href.startsWith('http'));
    expect(linked).toContain('CLI.md');
    for (const doc of linked) expect(pkg.files, `${doc} is linked from the README`).toContain(doc);
  });

  it('exports the CLI as @ordo/runtime/cli', async () => {
    const cli = await import('@ordo/runtime/cli');
    let out = '';
    const code = await cli.main(['--version'], {
      stdout: { write: (chunk: string) => (out += chunk) },
      stderr: { write: () => {} },
      env: {},
      cwd: root,
      isTTY: false,
    });
    expect(code).toBe(cli.ExitCode.OK);
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(out.trim()).toBe(pkg.version);
  });
});
