import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { hostNodeMounts } from '../src/index.js';

const run = promisify(execFile);
const repoRoot = await realpath(fileURLToPath(new URL('../../..', import.meta.url)));

/** Whether `file` is visible through one of `mounts` (at the same path). */
function visible(file: string, mounts: readonly { target: string }[]): boolean {
  return mounts.some((m) => file === m.target || file.startsWith(`${m.target}/`));
}

async function lddPaths(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  return stdout.split(/\s+/).filter((t) => t.startsWith('/'));
}

describe('hostNodeMounts', () => {
  it('mounts node, bash, every library ldd lists and this install, read-only at the same paths', async () => {
    const mounts = await hostNodeMounts();
    expect(mounts.every((m) => m.readOnly === true)).toBe(true);
    const bash = (await run('sh', ['-c', 'command -v bash'])).stdout.trim();
    for (const file of [
      process.execPath,
      bash,
      ...(await lddPaths(process.execPath)),
      ...(await lddPaths(bash)),
    ])
      expect(visible(file, mounts), file).toBe(true);
    // This package, the node_modules chain, and the workspace packages linked from it; not the repo root.
    for (const dir of ['packages/runtime', 'node_modules', 'packages/governance', 'packages/contracts']) {
      const abs = path.join(repoRoot, dir);
      expect(mounts).toContainEqual({ source: abs, target: abs, readOnly: true });
    }
    expect(visible(path.join(repoRoot, 'README.md'), mounts)).toBe(false);
    // No mount hides another: each target appears once and none is under another.
    const targets = mounts.map((m) => m.target);
    for (const t of targets) expect(targets.filter((o) => visible(t, [{ target: o }]))).toEqual([t]);
  });

  it('leaves bash out with shell: false, and finds none on an empty PATH', async () => {
    const bash = (await run('sh', ['-c', 'command -v bash'])).stdout.trim();
    expect(visible(bash, await hostNodeMounts({ shell: false }))).toBe(false);
    expect(visible(bash, await hostNodeMounts({ path: '' }))).toBe(false);
  });

  it.skipIf(!existsSync('/bin/busybox'))(
    'mounts no library for a static binary, and only the directory itself outside any install',
    async () => {
      const outside = await realpath(await tempDir('ordo-no-modules-'));
      const mounts = await hostNodeMounts({ node: '/bin/busybox', shell: false, from: outside });
      expect(mounts).toEqual([
        { source: await realpath('/bin/busybox'), target: '/bin/busybox', readOnly: true },
        { source: outside, target: outside, readOnly: true },
      ]);
    },
  );

  it('rejects with the reason of an aborted signal', async () => {
    const reason = new Error('stop');
    await expect(hostNodeMounts({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});
