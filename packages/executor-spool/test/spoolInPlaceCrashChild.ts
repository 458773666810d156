/**
 * Run by spoolInPlaceCrash.test.ts in a child process: stages the edits of the plan (a JSON file named by
 * argv[2]) and commits them with commitMode 'in-place', killing itself with SIGKILL at the plan's point:
 * `crashAt` -1 once the rollback journal is written (before any file is touched), n >= 0 just before the
 * n-th file is touched (other files may be in flight at that moment); a point past the last file lets the
 * commit finish.
 */
import { readFile } from 'node:fs/promises';
import { createSpool } from '../src/index.js';

export interface CrashPlan {
  root: string;
  /** `data` in base64; `null` deletes the path. */
  edits: Array<{ path: string; data: string | null }>;
  crashAt: number;
  concurrency: number;
  fsync: boolean;
}

const plan = JSON.parse(await readFile(process.argv[2] as string, 'utf8')) as CrashPlan;
const die = () => process.kill(process.pid, 'SIGKILL');
let calls = 0;
const spool = createSpool({
  root: plan.root,
  commitMode: 'in-place',
  concurrency: plan.concurrency,
  fsync: plan.fsync,
  testHooks: {
    afterPrepare: () => {
      if (plan.crashAt === -1) die();
    },
    beforeReplace: () => {
      if (calls++ === plan.crashAt) die();
    },
  },
});
for (const edit of plan.edits) {
  if (edit.data === null) await spool.remove(edit.path);
  else await spool.write(edit.path, Buffer.from(edit.data, 'base64'));
}
await spool.commit();
