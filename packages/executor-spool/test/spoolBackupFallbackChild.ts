/*
 * Run inside `unshare -m` (a private mount namespace, gone when this process exits) by
 * spoolBackupFallback.test.ts: bind-mounts `<root>/../mounted` at `<root>/mnt`, so the hard-link backup of
 * `mnt/f` into `<root>/.ordo-spool` fails with EXDEV and the commit falls back to a copy. Just before that
 * backup, `mnt/f` becomes a FIFO (`fifo`) or a symlink to `outside` (`symlink`: the process then dies
 * before it replaces anything, as in a crash). `crash` dies once the file is replaced (no attack: a crash);
 * `fail` fails half way (on `mnt/g`, once `mnt/f` is replaced) and rolls back. `recover` runs the recovery of a crash. Prints one JSON
 * line: the commit's outcome (`hung` after 5 s) and what `mnt/f` holds afterwards.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { readFile, rename, symlink } from 'node:fs/promises';
import path from 'node:path';
import { createSpool, recoverSpool } from '../src/index.js';

const [root, outside, keyDir, attack] = process.argv.slice(2) as [string, string, string, string];
execFileSync('mount', ['--bind', path.join(root, '..', 'mounted'), path.join(root, 'mnt')]);
const target = path.join(root, 'mnt', 'f');
const swap = async () => {
  const tmp = path.join(root, 'mnt', '.swap');
  if (attack === 'fifo') execFileSync('mkfifo', [tmp]);
  else await symlink(outside, tmp);
  await rename(tmp, target);
};
if (attack === 'recover') {
  const outcome = await recoverSpool(root, { keyDir }).then(
    (n) => `recovered ${n}`,
    (error: { code?: string }) => error.code ?? `not an ordo error: ${String(error)}`,
  );
  const info = fs.lstatSync(target);
  const holds = info.isFile() ? await readFile(target, 'utf8') : 'not a file';
  process.stdout.write(`${JSON.stringify({ outcome, holds })}\n`);
  process.exit(0);
}
const spool = createSpool({
  root,
  keyDir,
  testHooks: {
    beforeBackup: async () => {
      if (attack === 'fifo' || attack === 'symlink') await swap();
    },
    afterReplace: () => {
      if (attack === 'crash') {
        process.stdout.write(`${JSON.stringify({ outcome: 'crashed', holds: 'new\n' })}\n`);
        process.exit(0);
      }
    },
    beforeReplace: async (p: string) => {
      if (attack === 'fail' && p === 'mnt/g') {
        for (let i = 0; i < 200 && (await readFile(target, 'utf8')) !== 'new\n'; i++)
          await new Promise((r) => setTimeout(r, 10));
        throw new Error('a failure half way');
      }
      if (attack === 'symlink') {
        process.stdout.write(`${JSON.stringify({ outcome: 'crashed', holds: 'a symlink' })}\n`);
        process.exit(0);
      }
    },
  },
});
await spool.write('mnt/f', 'new\n');
if (attack === 'fail') await spool.write('mnt/g', 'new g\n');
const commit = spool.commit().then(
  () => 'ok',
  (error: { code?: string }) => error.code ?? `not an ordo error: ${String(error)}`,
);
const outcome = await Promise.race([commit, new Promise<string>((r) => setTimeout(() => r('hung'), 5000))]);
const info = fs.lstatSync(target);
const holds = info.isFile() ? await readFile(target, 'utf8') : info.isFIFO() ? 'a FIFO' : 'a symlink';
process.stdout.write(`${JSON.stringify({ outcome, holds })}\n`);
process.exit(0);
