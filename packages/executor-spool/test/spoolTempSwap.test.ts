import { spawn } from 'node:child_process';
import { chmod, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSpool } from '../src/index.js';
import { codeOf, tempTree } from './spoolFixtures.js';

/*
 * A spilled file's replacement was copied to its temp file with copyFile, then opened again BY NAME ('r+',
 * following symlinks) to chmod and fsync it. The temp file sits in the tree's directory: a second process
 * that swapped it for a symlink to an outside file in between had the commit chmod that outside file (a
 * 0600 secret became 0755), and the commit reported success. The temp file is now written, chmodded and
 * fsynced through the one descriptor that created it.
 */

/**
 * Says `ready`, then swaps the first spool temp file that appears in `dir` for a symlink to `target`, says
 * `swapped` and exits.
 */
const SWAPPER = `
const fs = require('fs');
const [dir, target] = process.argv.slice(1);
process.stdout.write('ready\\n');
for (;;) {
  let names;
  try { names = fs.readdirSync(dir); } catch { continue; }
  for (const n of names) {
    if (!n.endsWith('.tmp') || !n.includes('.ordo-')) continue;
    try {
      fs.symlinkSync(target, dir + '/.swap');
      fs.renameSync(dir + '/.swap', dir + '/' + n);
      process.stdout.write('swapped');
      process.exit(0);
    } catch { try { fs.unlinkSync(dir + '/.swap'); } catch {} }
  }
}`;

describe('a temp file swapped for a symlink to outside while it is written', () => {
  it("rename mode, spilled content: the outside file's mode and bytes stay", async () => {
    await using tree = await tempTree({ 'big.bin': Buffer.alloc(1024) });
    await using outside = await tempTree({ secret: 'secret\n' });
    await chmod(outside.file('secret'), 0o600);
    await chmod(tree.file('big.bin'), 0o755);
    const child = spawn(process.execPath, ['-e', SWAPPER, tree.dir, outside.file('secret')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let said = '';
    child.stdout.on('data', (d: Buffer) => {
      said += d.toString();
    });
    // 'close': after the last of its output arrived.
    const closed = new Promise((resolve) => child.on('close', resolve));
    // Started and watching before the spool makes its temp file (a loaded machine starts node slowly).
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('error', reject);
      child.once('close', (code) => reject(new Error(`the swapper exited (${code}) before it was ready`)));
    });
    const spool = createSpool({
      root: tree.dir,
      keyDir: path.join(outside.dir, 'keys'),
      spillThresholdBytes: 1 << 16,
      fsync: true,
    });
    try {
      // Large enough that the copy takes long after the temp file appears: the swapper lands in it.
      await spool.write('big.bin', Buffer.alloc(128 << 20, 7));
      const code = await codeOf(spool.commit());
      expect(code === undefined || !code.startsWith('not an ordo error')).toBe(true);
      const info = await stat(outside.file('secret'));
      expect((info.mode & 0o777).toString(8)).toBe('600');
      expect(await readFile(outside.file('secret'), 'utf8')).toBe('secret\n');
      // The attack did land (else this test proves nothing): it says so and exits, given a moment.
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      child.kill();
      await closed;
      expect(said).toBe('ready\nswapped');
    } finally {
      child.kill();
      await closed;
      await spool.close();
    }
  }, 60_000);
});
