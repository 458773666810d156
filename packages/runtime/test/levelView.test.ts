import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createKeyedMutex } from '@ordo/executor-spool';
import { describe, expect, it } from 'vitest';
import { LevelView, mayOverlap } from '../src/internal/levelView.js';
import { tempWorkspace } from './helpers/workspace.js';

const text = (files: Array<{ path: string; data: string }>) => files.map((f) => `${f.path}=${f.data}`);

describe('LevelView', () => {
  it('serves the level-start content of paths the level committed since, globs included', async () => {
    const ws = await tempWorkspace({ 'gen/a.txt': 'a', 'keep.txt': 'k' });
    const view = new LevelView(ws, createKeyedMutex(), ['.ordo/**']);
    view.begin();
    // A commit of this level: changes gen/a.txt, creates gen/b.txt, deletes keep.txt.
    await view.beforeCommit(['gen/a.txt', 'gen/b.txt', 'keep.txt']);
    await writeFile(path.join(ws, 'gen/a.txt'), 'A');
    await writeFile(path.join(ws, 'gen/b.txt'), 'B');
    await import('node:fs/promises').then((fs) => fs.rm(path.join(ws, 'keep.txt')));

    const globbed = await view.snapshot(['gen/*.txt', '*.txt']);
    expect(text(globbed.files)).toEqual(['gen/a.txt=a', 'keep.txt=k']);
    const literal = await view.snapshot(['gen/b.txt', 'keep.txt']);
    expect(text(literal.files)).toEqual(['keep.txt=k']);
    expect(literal.absent).toEqual(['gen/b.txt']);

    view.begin(); // the next level sees the disk
    expect(text((await view.snapshot(['gen/*.txt', 'keep.txt'])).files)).toEqual([
      'gen/a.txt=A',
      'gen/b.txt=B',
    ]);
  });

  it('grants each path to the first claimer of the level and reports the later ones', () => {
    const view = new LevelView('/unused', createKeyedMutex(), []);
    view.begin();
    expect(view.claim('t1', ['a', 'b'])).toEqual([]);
    expect(view.claim('t2', ['c', 'b'])).toEqual([{ path: 'b', by: 't1' }]);
    expect(view.claim('t3', ['c'])).toEqual([]); // t2's refused claim took nothing
    view.begin();
    expect(view.claim('t4', ['a'])).toEqual([]);
  });
});

describe('mayOverlap', () => {
  it.each([
    [['a.txt'], ['a.txt'], true],
    [['a.txt'], ['b.txt'], false],
    [['src/a.ts'], ['src/*.ts'], true],
    [['src/*.ts'], ['lib/a.ts'], false],
    [['src/**/*.ts'], ['src/deep/*.ts'], true],
    [['src/*.ts'], ['lib/*.ts'], false],
    [['*.md'], ['docs/*.md'], true], // a glob at the root may reach anything: assumed to overlap
    [[], ['a.txt'], false],
  ])('%j and %j → %s', (a, b, expected) => {
    expect(mayOverlap(a, b)).toBe(expected);
    expect(mayOverlap(b, a)).toBe(expected);
  });
});
