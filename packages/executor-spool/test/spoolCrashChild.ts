/**
 * Run by spoolCrash.test.ts in a child process: commits three edits and a delete, and kills itself with
 * SIGKILL half way. `between-renames` (the default): once two files are in place, so the commit is
 * interrupted between renames. `before-renames`: once every file is checked and prepared (temp files and
 * backups on disk), before any is renamed. `after-renames`: once every file is in place, before the
 * commit's journal is removed. `after-prepare`: right after `spool.prepare()` (journal and temp files
 * written, no commit yet). `prepared-between-renames`: `between-renames` for a commit that was prepared.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createSpool } from '../src/index.js';

const root = process.argv[2] as string;
const mode = process.argv[3] ?? 'between-renames';
const when = mode === 'prepared-between-renames' ? 'between-renames' : mode;
const isNew = async (p: string, expected: string) =>
  (await readFile(path.join(root, p), 'utf8').catch(() => '')) === expected;
const die = () => process.kill(process.pid, 'SIGKILL');

const spool = createSpool({
  root,
  concurrency: 3,
  testHooks: {
    afterPrepare: () => {
      if (when === 'before-renames') die();
    },
    afterReplace: () => {
      if (when === 'after-renames') die();
    },
    beforeReplace: async (p) => {
      if (p !== 'c.txt' || when !== 'between-renames') return;
      while (!((await isNew('a.txt', 'new a\n')) && (await isNew('b/added.txt', 'added\n')))) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      die();
    },
  },
});
await spool.write('a.txt', 'new a\n');
await spool.write('b/added.txt', 'added\n');
await spool.write('c.txt', 'new c\n');
await spool.remove('d.txt');
if (mode === 'after-prepare' || mode === 'prepared-between-renames') await spool.prepare();
if (mode === 'after-prepare') die();
await spool.commit();
