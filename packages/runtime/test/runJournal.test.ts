import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ResumeWorkspaceChangedError } from '../src/errors.js';
import { RunJournal, sha256 } from '../src/internal/runJournal.js';

const RUN = { feature: 'f', planDigest: 'p', runId: 'r1' };
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A workspace with a state dir, and a journal of `steps` written by a first run that then "crashed". */
async function crashedRun(
  files: Record<string, string>,
  steps: (j: RunJournal) => Promise<void>,
): Promise<{ ws: string; state: string }> {
  const ws = await mkdtemp(path.join(tmpdir(), 'ordo-journal-'));
  dirs.push(ws);
  const state = path.join(ws, '.ordo');
  const journal = await RunJournal.create(state, RUN);
  for (const [rel, content] of Object.entries(files)) await writeFile(path.join(ws, rel), content);
  await steps(journal);
  await journal.close();
  return { ws, state };
}

const resume = (state: string, ws: string) => RunJournal.resume(state, ws, RUN);

describe('RunJournal.resume: what counts as committed', () => {
  it('an intent without its commit line counts exactly when the disk holds what it meant to write', async () => {
    const { ws, state } = await crashedRun({ 'a.txt': 'new a\n', 'b.txt': 'old b\n' }, async (j) => {
      await j.intent('A', 'dA', { 'a.txt': sha256('new a\n') }); // the spool finished, then the crash
      await j.intent('B', 'dB', { 'b.txt': sha256('new b\n') }); // rolled back by the spool's recovery
    });
    const first = await resume(state, ws);
    expect([...(first?.committed.keys() ?? [])]).toEqual(['A']);
    await first?.journal.close();
    // The commit line was added: A stays committed even once a later task overwrites a.txt.
    expect(await readFile(path.join(state, 'journal.jsonl'), 'utf8')).toMatch(
      /{"t":"commit","taskId":"A"}\n$/,
    );
  });

  it('refuses with RESUME_WORKSPACE_CHANGED when a committed file changed; the last writer of a path decides', async () => {
    const { ws, state } = await crashedRun({ 'a.txt': 'second\n', 'gone.txt': 'x' }, async (j) => {
      await j.intent('one', 'd1', { 'a.txt': sha256('first\n') });
      await j.committed('one');
      await j.intent('two', 'd2', { 'a.txt': sha256('second\n'), 'gone.txt': null });
      await j.committed('two');
    });
    // a.txt holds what `two` (the later writer) wrote, but gone.txt, which `two` deleted, is back.
    const error = await resume(state, ws).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResumeWorkspaceChangedError);
    expect(error).toMatchObject({ code: 'RESUME_WORKSPACE_CHANGED', paths: ['gone.txt'] });
    expect((error as Error).message).toMatch(/gone\.txt.*run without resume/);

    await rm(path.join(ws, 'gone.txt'));
    const ok = await resume(state, ws);
    expect([...(ok?.committed.keys() ?? [])]).toEqual(['one', 'two']);
    await ok?.journal.close();
  });

  it('a torn last line is ignored, and the next line is not glued to it', async () => {
    const { ws, state } = await crashedRun({ 'a.txt': 'a\n' }, async (j) => {
      await j.intent('A', 'dA', { 'a.txt': sha256('a\n') });
    });
    await appendFile(path.join(state, 'journal.jsonl'), '{"t":"intent","taskId":"B","edi');
    const first = await resume(state, ws);
    expect([...(first?.committed.keys() ?? [])]).toEqual(['A']);
    await first?.journal.close();
    const lines = (await readFile(path.join(state, 'journal.jsonl'), 'utf8')).split('\n');
    expect(lines.at(-2)).toBe('{"t":"commit","taskId":"A"}');
    const again = await resume(state, ws);
    expect([...(again?.committed.keys() ?? [])]).toEqual(['A']);
    await again?.journal.close();
  });
});

describe('RunJournal.restoreBaseline: the workspace before the run, in a copy', () => {
  it('puts back what the run changed, removes what it created, and never writes outside the copy', async () => {
    const { state } = await crashedRun({}, async (j) => {
      await j.rememberBaseline(
        new Map<string, Buffer | null>([
          ['kept.txt', Buffer.from('before\n')],
          ['new/made.txt', null],
        ]),
      );
    });
    // A hand-edited journal line aiming outside the copy.
    await appendFile(
      path.join(state, 'journal.jsonl'),
      `${JSON.stringify({ t: 'baseline', path: '../escape.txt', existed: false })}\n`,
    );
    const copy = await mkdtemp(path.join(tmpdir(), 'ordo-copy-'));
    const outside = await mkdtemp(path.join(tmpdir(), 'ordo-outside-'));
    dirs.push(copy, outside);
    const target = path.join(outside, 'ws');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.join(target, 'new'), { recursive: true }));
    await writeFile(path.join(target, 'kept.txt'), 'after\n');
    await writeFile(path.join(target, 'new', 'made.txt'), 'made\n');
    await writeFile(path.join(outside, 'escape.txt'), 'must stay\n');

    expect(await RunJournal.restoreBaseline(state, target, { feature: 'f' })).toBe(true);
    expect(await readFile(path.join(target, 'kept.txt'), 'utf8')).toBe('before\n');
    await expect(readFile(path.join(target, 'new', 'made.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(path.join(outside, 'escape.txt'), 'utf8')).toBe('must stay\n');

    expect(await RunJournal.restoreBaseline(state, target, { feature: 'other' })).toBe(false);
    expect(await RunJournal.restoreBaseline(copy, target, { feature: 'f' })).toBe(false); // no journal
  });
});
