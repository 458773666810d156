/**
 * Spool review: an agent's edits are staged over a directory without touching it, shown as a unified diff,
 * refused by a validator, fixed, let through a commit gate, committed atomically, and a second spool that
 * raced on the same file gets SPOOL_CONFLICT instead of silently overwriting the first commit.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isOrdoError } from '@ordo/contracts';
import { createSpool, type SpoolChange, type SpoolIssue, type SpoolValidator } from '@ordo/executor-spool';

/** What the example found, for its smoke test. */
export interface SpoolReviewDemo {
  readonly diff: string;
  readonly issues: readonly SpoolIssue[];
  readonly gateRefused: boolean;
  readonly committed: readonly string[];
  readonly conflictPath: string | undefined;
  readonly finalConfig: string;
}

/** A validator: no `var` in TypeScript files, with the line of each. */
const noVar: SpoolValidator = async (change: SpoolChange) => {
  if (!change.path.endsWith('.ts')) return [];
  const lines = (await change.text())?.split('\n') ?? []; // undefined: the file is being deleted
  return lines.flatMap((text, i) =>
    /\bvar\s/.test(text) ? [{ message: 'use const or let', line: i + 1 }] : [],
  );
};

/** Another: no debugging leftovers. */
const noConsoleLog: SpoolValidator = async (change) =>
  (await change.text())?.includes('console.log(') ? ['remove console.log before committing'] : [];

/** Runs the whole demonstration in a fresh temp directory, printing through `log`. */
export async function main(log: (line: string) => void = console.log): Promise<SpoolReviewDemo> {
  const root = await mkdtemp(join(tmpdir(), 'ordo-spool-review-'));
  try {
    await mkdir(join(root, 'src'));
    await writeFile(
      join(root, 'src/config.ts'),
      'export const retries = 3;\nexport const timeoutMs = 5000;\n',
    );
    await writeFile(join(root, 'src/old.ts'), 'export const legacy = true;\n');
    log(`workspace: ${root}`);

    // The gate is the last word: here, a human approval (a CI status or a policy check works the same way).
    let approved = false;
    await using spool = createSpool({
      root,
      validators: [noVar, noConsoleLog],
      commitGate: ({ changes, bytes }) => {
        log(`gate: ${changes.length} changes, ${bytes} bytes, approved: ${approved}`);
        return approved;
      },
    });

    // 1. The agent's edits, staged: nothing on disk changes yet.
    await spool.replace('src/config.ts', (text = '') => text.replace('retries = 3', 'retries = 5'));
    await spool.write(
      'src/client.ts',
      'var attempts = 0;\nconsole.log(attempts);\nexport const client = {};\n',
    );
    await spool.remove('src/old.ts');
    const diff = await spool.diff();
    log('\n--- staged diff ---');
    log(diff.trimEnd());

    // 2. The validators refuse: every issue by path (and line), nothing written.
    let issues: readonly SpoolIssue[] = [];
    try {
      await spool.commit();
    } catch (error) {
      if (!isOrdoError(error, 'SPOOL_VALIDATION_FAILED')) throw error;
      issues = error.details?.issues as SpoolIssue[];
      log(`\n${error.code}: ${error.message}`);
    }

    // 3. Fix the file, then try again: the validators pass but the gate says no until it is approved.
    await spool.write('src/client.ts', 'const attempts = 0;\nexport const client = { attempts };\n');
    let gateRefused = false;
    try {
      await spool.commit();
    } catch (error) {
      if (!isOrdoError(error, 'SPOOL_VALIDATION_FAILED')) throw error;
      gateRefused = true;
      log(`${error.code}: ${error.message.split('\n')[1]?.trim()}`);
    }

    // 4. A second spool (another agent) stages its own edit of src/config.ts from the same base...
    await using racer = createSpool({ root });
    await racer.replace('src/config.ts', (text = '') => text.replace('timeoutMs = 5000', 'timeoutMs = 1000'));

    // 5. ...the first spool is approved and commits: all three changes land atomically.
    approved = true;
    const { committed, bytesWritten } = await spool.commit();
    log(`committed: ${committed.map((c) => `${c.kind} ${c.path}`).join(', ')} (${bytesWritten} bytes)`);

    // 6. The racer's commit finds src/config.ts changed since it was staged: a conflict, never an overwrite.
    let conflictPath: string | undefined;
    try {
      await racer.commit();
    } catch (error) {
      if (!isOrdoError(error, 'SPOOL_CONFLICT')) throw error;
      conflictPath = error.details?.path as string;
      log(`\n${error.code}: ${error.message}`);
    }

    // 7. What the error says to do: reset, stage again on the new content, commit.
    await racer.reset(['src/config.ts']);
    await racer.replace('src/config.ts', (text = '') => text.replace('timeoutMs = 5000', 'timeoutMs = 1000'));
    await racer.commit();
    const finalConfig = await readFile(join(root, 'src/config.ts'), 'utf8');
    log(`after the racer re-staged and committed, src/config.ts:\n${finalConfig.trimEnd()}`);

    return { diff, issues, gateRefused, committed: committed.map((c) => c.path), conflictPath, finalConfig };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
