/** The diff benchmark's inputs: built the same way in every process, so each contender gets the same strings. */
export interface DiffCase {
  name: string;
  before: string;
  after: string;
  target: string;
  /** Whether jsdiff runs too (its Myers is O(N·D): minutes on the large rewrite, so it is left out there). */
  jsdiff: boolean;
}

const code = (i: number) => `  const value${i} = compute(${i}, 'item-${i % 997}');`;
const text = (lines: string[]) => `${lines.join('\n')}\n`;

/** Every case, in the order the benchmark runs and reports them. */
export function diffCases(): DiffCase[] {
  const base100k = Array.from({ length: 100_000 }, (_, i) => code(i));
  const scattered = [...base100k];
  for (let k = 0; k < 10; k++) scattered[Math.floor(((k + 0.5) * 100_000) / 10)] = `  // edited line ${k}`;
  const base10k = Array.from({ length: 10_000 }, (_, i) => code(i));
  const everyTenth = base10k.map((l, i) => (i % 10 === 5 ? `  // changed ${i}` : l));
  const base20k = Array.from({ length: 20_000 }, (_, i) => code(i));
  const rewrite = base20k.map((l, i) =>
    Math.floor(i / 100) % 2 ? `  export const upgraded${i} = next(${i});` : l,
  );
  return [
    {
      name: '100,000 lines, 10 scattered single-line edits',
      before: text(base100k),
      after: text(scattered),
      target: '>= 5x jsdiff',
      jsdiff: true,
    },
    {
      name: '10,000 lines, every 10th line changed',
      before: text(base10k),
      after: text(everyTenth),
      target: '>= 3x jsdiff',
      jsdiff: true,
    },
    {
      name: '20,000 lines, half replaced in blocks of 100 (a library upgrade)',
      before: text(base20k),
      after: text(rewrite),
      target: 'within 2x of git diff --no-index',
      jsdiff: false,
    },
  ];
}
