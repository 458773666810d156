import type { LineIndex } from './lineIndex.js';
import type { Side } from './myers.js';

// git's weights for the indent heuristic (xdiffi.c), found on a corpus by diff-slider-tools.
const MAX_INDENT = 200;
const MAX_BLANKS = 20;
const START_OF_FILE_PENALTY = 1;
const END_OF_FILE_PENALTY = 21;
const TOTAL_BLANK_WEIGHT = -30;
const POST_BLANK_WEIGHT = 6;
const RELATIVE_INDENT_PENALTY = -4;
const RELATIVE_INDENT_WITH_BLANK_PENALTY = 10;
const RELATIVE_OUTDENT_PENALTY = 24;
const RELATIVE_OUTDENT_WITH_BLANK_PENALTY = 17;
const RELATIVE_DEDENT_PENALTY = 23;
const RELATIVE_DEDENT_WITH_BLANK_PENALTY = 17;
const INDENT_WEIGHT = 60;
const INDENT_HEURISTIC_MAX_SLIDING = 100;

/** A group of changed lines: `start` to `end` (exclusive); empty when they are equal. */
interface Group {
  start: number;
  end: number;
}

/**
 * The indentation of each line (tabs to 8 columns, at most 200), `-1` for a blank line, as git's
 * get_indent: only space, tab, `\n` and `\r` count as white space (git's own ctype).
 */
class Indents {
  readonly #lines: LineIndex;
  readonly #memo: Int16Array;

  constructor(lines: LineIndex) {
    this.#lines = lines;
    this.#memo = new Int16Array(lines.count).fill(-2);
  }

  of(k: number): number {
    const memo = this.#memo[k] as number;
    if (memo !== -2) return memo;
    const { buffer, starts } = this.#lines;
    let ret = -1;
    let indent = 0;
    for (let p = starts[k] as number, end = starts[k + 1] as number; p < end; p++) {
      const c = buffer[p] as number;
      if (c === 32) indent += 1;
      else if (c === 9) indent += 8 - (indent % 8);
      else if (c !== 10 && c !== 13) {
        ret = indent;
        break;
      }
      if (indent >= MAX_INDENT) {
        ret = MAX_INDENT;
        break;
      }
    }
    this.#memo[k] = ret;
    return ret;
  }
}

interface Score {
  effectiveIndent: number;
  penalty: number;
}

/** measure_split and score_add_split: the badness of splitting the lines above line `split`. */
function scoreSplit(indents: Indents, nrec: number, split: number, s: Score): void {
  const endOfFile = split >= nrec;
  const indentHere = endOfFile ? -1 : indents.of(split);
  let preBlank = 0;
  let preIndent = -1;
  for (let i = split - 1; i >= 0; i--) {
    preIndent = indents.of(i);
    if (preIndent !== -1) break;
    preBlank += 1;
    if (preBlank === MAX_BLANKS) {
      preIndent = 0;
      break;
    }
  }
  let postBlank = 0;
  let postIndent = -1;
  for (let i = split + 1; i < nrec; i++) {
    postIndent = indents.of(i);
    if (postIndent !== -1) break;
    postBlank += 1;
    if (postBlank === MAX_BLANKS) {
      postIndent = 0;
      break;
    }
  }
  if (preIndent === -1 && preBlank === 0) s.penalty += START_OF_FILE_PENALTY;
  if (endOfFile) s.penalty += END_OF_FILE_PENALTY;
  const post = indentHere === -1 ? 1 + postBlank : 0;
  const totalBlank = preBlank + post;
  s.penalty += TOTAL_BLANK_WEIGHT * totalBlank;
  s.penalty += POST_BLANK_WEIGHT * post;
  const indent = indentHere !== -1 ? indentHere : postIndent;
  const anyBlanks = totalBlank !== 0;
  s.effectiveIndent += indent;
  if (indent === -1 || preIndent === -1) {
    // no adjustment
  } else if (indent > preIndent) {
    s.penalty += anyBlanks ? RELATIVE_INDENT_WITH_BLANK_PENALTY : RELATIVE_INDENT_PENALTY;
  } else if (indent === preIndent) {
    // no adjustment
  } else if (postIndent !== -1 && postIndent > indent) {
    s.penalty += anyBlanks ? RELATIVE_OUTDENT_WITH_BLANK_PENALTY : RELATIVE_OUTDENT_PENALTY;
  } else {
    s.penalty += anyBlanks ? RELATIVE_DEDENT_WITH_BLANK_PENALTY : RELATIVE_DEDENT_PENALTY;
  }
}

const scoreCmp = (a: Score, b: Score): number =>
  INDENT_WEIGHT *
    (Number(a.effectiveIndent > b.effectiveIndent) - Number(a.effectiveIndent < b.effectiveIndent)) +
  (a.penalty - b.penalty);

/** `changed` is offset by one: line `k` is `changed[k + 1]`, with a 0 on both ends. */
const isChanged = (side: Side, k: number) => side.changed[k + 1] === 1;

function groupInit(side: Side, g: Group): void {
  g.start = g.end = 0;
  while (isChanged(side, g.end)) g.end++;
}

function groupNext(side: Side, g: Group): boolean {
  if (g.end === side.nrec) return false;
  g.start = g.end + 1;
  for (g.end = g.start; isChanged(side, g.end); g.end++);
  return true;
}

function groupPrevious(side: Side, g: Group): boolean {
  if (g.start === 0) return false;
  g.end = g.start - 1;
  for (g.start = g.end; isChanged(side, g.start - 1); g.start--);
  return true;
}

function slideDown(side: Side, g: Group): boolean {
  if (g.end < side.nrec && side.ha[g.start] === side.ha[g.end]) {
    side.changed[g.start++ + 1] = 0;
    side.changed[g.end++ + 1] = 1;
    while (isChanged(side, g.end)) g.end++;
    return true;
  }
  return false;
}

function slideUp(side: Side, g: Group): boolean {
  if (g.start > 0 && side.ha[g.start - 1] === side.ha[g.end - 1]) {
    side.changed[--g.start + 1] = 1;
    side.changed[--g.end + 1] = 0;
    while (isChanged(side, g.start - 1)) g.start--;
    return true;
  }
  return false;
}

const broken = (what: string) => new Error(`internal error in the line diff: group sync broken ${what}`);

/**
 * xdl_change_compact with git's default indent heuristic: slides each group of changed lines of `side` up
 * and down as far as it goes (merging groups it bumps into), then puts it where it lines up with a change
 * of `other`, or else where the indent heuristic scores the split best.
 */
export function compactChanges(side: Side, other: Side, lines: LineIndex): void {
  const indents = new Indents(lines);
  const g: Group = { start: 0, end: 0 };
  const go: Group = { start: 0, end: 0 };
  groupInit(side, g);
  groupInit(other, go);
  for (;;) {
    if (g.end !== g.start) {
      let groupsize: number;
      let earliestEnd: number;
      let endMatchingOther: number;
      do {
        groupsize = g.end - g.start;
        endMatchingOther = -1;
        while (slideUp(side, g)) if (!groupPrevious(other, go)) throw broken('sliding up');
        earliestEnd = g.end;
        if (go.end > go.start) endMatchingOther = g.end;
        for (;;) {
          if (!slideDown(side, g)) break;
          if (!groupNext(other, go)) throw broken('sliding down');
          if (go.end > go.start) endMatchingOther = g.end;
        }
      } while (groupsize !== g.end - g.start);
      if (g.end === earliestEnd) {
        // no shifting was possible
      } else if (endMatchingOther !== -1) {
        while (go.end === go.start) {
          if (!slideUp(side, g)) throw broken('match disappeared');
          if (!groupPrevious(other, go)) throw broken('sliding to match');
        }
      } else {
        let shift = earliestEnd;
        if (g.end - groupsize - 1 > shift) shift = g.end - groupsize - 1;
        if (g.end - INDENT_HEURISTIC_MAX_SLIDING > shift) shift = g.end - INDENT_HEURISTIC_MAX_SLIDING;
        let bestShift = -1;
        const best: Score = { effectiveIndent: 0, penalty: 0 };
        for (; shift <= g.end; shift++) {
          const score: Score = { effectiveIndent: 0, penalty: 0 };
          scoreSplit(indents, side.nrec, shift, score);
          scoreSplit(indents, side.nrec, shift - groupsize, score);
          if (bestShift === -1 || scoreCmp(score, best) <= 0) {
            best.effectiveIndent = score.effectiveIndent;
            best.penalty = score.penalty;
            bestShift = shift;
          }
        }
        while (g.end > bestShift) {
          if (!slideUp(side, g)) throw broken('best shift unreached');
          if (!groupPrevious(other, go)) throw broken('sliding to blank line');
        }
      }
    }
    if (!groupNext(side, g)) break;
    if (!groupNext(other, go)) throw broken('moving to next group');
  }
  if (groupNext(other, go)) throw broken('at end of file');
}
