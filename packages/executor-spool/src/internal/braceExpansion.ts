/**
 * How many words bash's brace expansion makes of one word, as written (an upper bound: quoted parts,
 * `${…}` and escapes are skipped, a `{…}` that is not an expansion counts as one). bash builds every word
 * of an expansion in memory before it runs anything, so `{1..30000000}` costs gigabytes: the policy
 * counts first and refuses.
 */
export function braceExpansionCount(raw: string): number {
  return countRange(raw, 0, raw.length);
}

const NUMBER_SEQUENCE = /^([+-]?\d+)\.\.([+-]?\d+)(?:\.\.([+-]?\d+))?$/;
const LETTER_SEQUENCE = /^([A-Za-z])\.\.([A-Za-z])(?:\.\.([+-]?\d+))?$/;

/** The product of the counts of the brace groups between `start` and `end`. */
function countRange(s: string, start: number, end: number): number {
  let total = 1;
  let i = start;
  while (i < end) {
    const skipped = skipQuoted(s, i, end);
    if (skipped !== i) {
      i = skipped;
      continue;
    }
    if (s[i] !== '{') {
      i++;
      continue;
    }
    const group = matchBrace(s, i, end);
    if (group === undefined) {
      i++;
      continue;
    }
    total *= groupCount(s, i, group);
    i = group.close + 1;
  }
  return total;
}

function groupCount(s: string, open: number, group: { close: number; commas: number[] }): number {
  if (group.commas.length > 0) {
    let sum = 0;
    let from = open + 1;
    for (const comma of [...group.commas, group.close]) {
      sum += countRange(s, from, comma);
      from = comma + 1;
    }
    return sum;
  }
  const inner = s.slice(open + 1, group.close);
  const numbers = NUMBER_SEQUENCE.exec(inner);
  const letters = numbers ? undefined : LETTER_SEQUENCE.exec(inner);
  const match = numbers ?? letters;
  if (!match) return countRange(s, open + 1, group.close);
  const from = numbers ? Number(match[1]) : (match[1] as string).charCodeAt(0);
  const to = numbers ? Number(match[2]) : (match[2] as string).charCodeAt(0);
  const step = Math.abs(Number(match[3] ?? 1)) || 1;
  return Math.floor(Math.abs(to - from) / step) + 1;
}

/** The `}` that closes the `{` at `open`, and the commas at its top level; undefined when none closes it. */
function matchBrace(s: string, open: number, end: number): { close: number; commas: number[] } | undefined {
  const commas: number[] = [];
  let depth = 0;
  let i = open + 1;
  while (i < end) {
    const skipped = skipQuoted(s, i, end);
    if (skipped !== i) {
      i = skipped;
      continue;
    }
    const c = s[i];
    if (c === '{') depth++;
    else if (c === '}') {
      if (depth === 0) return { close: i, commas };
      depth--;
    } else if (c === ',' && depth === 0) commas.push(i);
    i++;
  }
  return undefined;
}

/** Past an escape, a quoted part or a `${…}` starting at `i`; `i` itself when none starts there. */
function skipQuoted(s: string, i: number, end: number): number {
  const c = s[i];
  if (c === '\\') return Math.min(i + 2, end);
  if (c === "'") return closeAt(s, s.indexOf("'", i + 1), end);
  if (c === '$' && s[i + 1] === "'") {
    let j = i + 2;
    while (j < end && s[j] !== "'") j += s[j] === '\\' ? 2 : 1;
    return Math.min(j + 1, end);
  }
  if (c === '"') {
    let j = i + 1;
    while (j < end && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
    return Math.min(j + 1, end);
  }
  if (c === '$' && s[i + 1] === '{') return closeAt(s, s.indexOf('}', i + 2), end);
  return i;
}

function closeAt(s: string, found: number, end: number): number {
  return found === -1 || found >= end ? end : Math.min(found + 1, s.length);
}
