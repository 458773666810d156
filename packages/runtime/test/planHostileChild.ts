// Run by hostileInput.test.ts in a child process: parses hostile plan texts one after another in ONE process
// and prints the code each gave, so a V8 abort fails the test (non-zero exit) instead of killing vitest.
import { parsePlanText } from '../src/index.js';

const laughs = [
  'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
  ...Array.from({ length: 8 }, (_, i) => {
    const [name, previous] = [String.fromCharCode(98 + i), String.fromCharCode(97 + i)];
    return `${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`;
  }),
].join('\n');
const texts: Record<string, string> = {
  tabs: 'feature: x\ntasks:\n\t- id: a\n',
  brackets: `a: ${'['.repeat(1e5)}${']'.repeat(1e5)}`,
  json: `{"feature": "x", "tasks": ${'['.repeat(1e5)}${']'.repeat(1e5)}}`,
  jsonObjects: `${'{"a":'.repeat(5e4)}1${'}'.repeat(5e4)}`,
  dashes: `${'- '.repeat(1e5)}x\n`,
  laughs,
};
const out: Record<string, string> = {};
for (const [name, text] of Object.entries(texts)) {
  try {
    parsePlanText(text);
    out[name] = 'parsed';
  } catch (error) {
    out[name] = (error as { code?: string }).code ?? (error as Error).constructor.name;
  }
}
process.stdout.write(JSON.stringify(out));
