// `pnpm bench [spool|diff|shell|fetch]`: every executor-spool benchmark against its anchors, in one run.
import { benchDiff } from './diff.js';
import { benchDiffAlternating } from './diffAlternating.js';
import { benchFetch } from './fetch.js';
import { benchShell } from './shell.js';

const only = process.argv[2];
if (!only || only === 'shell') await benchShell();
if (!only || only === 'fetch') await benchFetch();
if (!only || only === 'diff') {
  await benchDiff();
  await benchDiffAlternating();
}
// The spool benchmark runs when imported.
if (!only || only === 'spool') await import('./spool.js');
