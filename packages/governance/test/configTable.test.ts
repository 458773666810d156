import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_KEY_DOCS,
  configKeyPaths,
  defaultConfig,
  FEATURE_FLAG_NAMES,
  FEATURE_FLAGS,
  isLiveConfigKey,
  LIVE_CONFIG_KEYS,
  renderConfigTable,
} from '../src/index.js';

const readme = fileURLToPath(new URL('../README.md', import.meta.url));
const START = /<!-- config-table:start[^>]*-->\n/;
const END = '<!-- config-table:end -->';

/** Every leaf path of a plain object tree. */
function leaves(tree: unknown, path: string[] = []): string[] {
  if (typeof tree !== 'object' || tree === null) return [path.join('.')];
  return Object.entries(tree).flatMap(([key, value]) => leaves(value, [...path, key]));
}

describe('the configuration table', () => {
  it('documents every key of the schema, and only those', () => {
    const keys = configKeyPaths();
    expect(keys.length).toBeGreaterThan(20);
    expect(Object.keys(CONFIG_KEY_DOCS).sort()).toEqual([...keys].sort());
    // The defaults have exactly the schema's leaves, so the table's default column covers every key.
    expect(leaves(defaultConfig).sort()).toEqual([...keys].sort());
    // Every live prefix names keys that exist.
    for (const live of LIVE_CONFIG_KEYS) {
      expect(
        keys.some((key) => key === live || key.startsWith(`${live}.`)),
        live,
      ).toBe(true);
    }
    expect(keys.filter(isLiveConfigKey)).toContain('log.level');
  });

  it('is in the README as renderConfigTable() renders it from the schema', async () => {
    const text = await readFile(readme, 'utf8');
    const start = START.exec(text);
    const end = text.indexOf(END);
    expect(start, 'the README needs the config-table markers').not.toBeNull();
    expect(end).toBeGreaterThan(start?.index ?? 0);
    const at = (start?.index ?? 0) + (start?.[0].length ?? 0);
    const expected = `${renderConfigTable()}\n`;
    if (process.env.ORDO_UPDATE_DOCS === '1') {
      await writeFile(readme, text.slice(0, at) + expected + text.slice(end));
      return;
    }
    expect(text.slice(at, end), 'run with ORDO_UPDATE_DOCS=1 to rewrite the table').toBe(expected);
    for (const key of configKeyPaths()) expect(expected).toContain(`| \`${key}\` |`);
  });

  it('names each feature flag, its variable and its off behaviour in the README', async () => {
    const text = await readFile(readme, 'utf8');
    for (const name of FEATURE_FLAG_NAMES) {
      expect(text).toContain(FEATURE_FLAGS[name].variable);
      expect(text).toContain(FEATURE_FLAGS[name].off);
    }
  });
});
