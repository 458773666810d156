import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { fixture } from './helpers/workspace.js';

const run = promisify(execFile);
/**
 * tsx's ES module hooks only: its CommonJS hook would compile an ES module that is `require`d (zod's, by the
 * plan schema) into a copy of its own, where plain Node loads it through require(esm), as a host's process does.
 */
const TSX_ESM = pathToFileURL(fileURLToPath(import.meta.resolve('tsx/esm'))).href;

/** Packages that only some calls need: none of them may load with `import('@ordo/runtime')`. */
const HEAVY = [
  'zod',
  'yaml',
  'prom-client',
  'ajv',
  'undici',
  'cli-table3',
  'commander',
  'tinyglobby',
  '@opentelemetry',
  'p-limit',
  'lru-cache',
  'eventemitter3',
  'kernel-scheduler/src/index.ts',
  'governance/src/index.ts',
  'governance/src/config.ts',
  'governance/src/metrics.ts',
  'launcher/src/index.ts',
  'launcher/src/containerLauncher.ts',
  'executor-spool/src/index.ts',
  'runtime/src/runtime.ts',
  'runtime/src/internal/dockerLauncher.ts',
];

/**
 * Packages the host's parent process does not need to run a feature from a plan object (they serve a
 * YAML file, a state file read, a fetch, a command check, a status render, the CLI, TLS certificates,
 * tracing): none may load in the parent during a run. (`@opentelemetry/api` is not in the list:
 * prom-client requires it for exemplars whenever metrics load; the README says so.)
 */
const NOT_FOR_A_RUN = [
  'yaml',
  'ajv',
  'undici',
  'shell-quote',
  'ipaddr.js',
  'cli-table3',
  'picocolors',
  'commander',
  'tinyglobby',
  'node-forge',
];

/** The packages of `names` among loaded module URLs and paths. */
function heavyIn(loaded: readonly string[], names: readonly string[] = HEAVY): string[] {
  const found = new Set<string>();
  for (const entry of loaded) {
    const file = entry.startsWith('file:') ? fileURLToPath(entry) : entry;
    for (const name of names) {
      if (file.includes(`/node_modules/${name}/`) || file.endsWith(`/packages/${name}`)) found.add(name);
    }
  }
  return [...found].sort();
}

describe('import cost', () => {
  it('loads none of the parts a call needs with import("@ordo/runtime"), none a run does not need in the parent, and yaml on the first YAML plan parsed (fresh process)', async () => {
    const log = path.join(await tempDir('ordo-import-log-'), 'loads.log');
    const child = fixture('importCost/importChild.ts');
    const record = pathToFileURL(fixture('importCost/recordLoads.mjs')).href;
    const { stdout } = await run(
      process.execPath,
      ['--conditions=@ordo/source', '--import', record, '--import', TSX_ESM, child],
      { cwd: path.dirname(child), env: { ...process.env, ORDO_TEST_LOAD_LOG: log }, timeout: 60_000 },
    );
    const report = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
      afterImport: string[];
      status: string;
      afterRun: string[];
      afterParse: string[];
    };
    // The recorder saw the import itself (it would pass vacuously otherwise).
    expect(report.afterImport.some((u) => u.endsWith('/packages/runtime/src/index.ts'))).toBe(true);
    expect(heavyIn(report.afterImport)).toEqual([]);
    // node:child_process alone cost about 5 ms of the import (hostNodeMounts loads it on its first call).
    expect(report.afterImport.filter((u) => u === 'node:child_process')).toEqual([]);
    expect(report.status).toBe('succeeded');
    expect(heavyIn(report.afterRun, ['zod', 'prom-client'])).toEqual(['prom-client', 'zod']);
    expect(heavyIn(report.afterRun, NOT_FOR_A_RUN)).toEqual([]);
    expect(heavyIn(report.afterParse, NOT_FOR_A_RUN)).toEqual(['yaml']);
    // One zod: the plan schema and governance's config share its ES module build (no .cjs copy).
    const zodFiles = report.afterParse.filter((u) => u.includes('/node_modules/zod/'));
    expect(zodFiles.some((u) => u.endsWith('.js'))).toBe(true);
    expect(zodFiles.filter((u) => u.endsWith('.cjs'))).toEqual([]);
  }, 90_000);

  it('parses a plan while an import() elsewhere is still loading zod (fresh process)', async () => {
    const child = fixture('importCost/zodRaceChild.ts');
    const slow = pathToFileURL(fixture('importCost/slowZod.mjs')).href;
    const held = path.join(await tempDir('ordo-zod-race-'), 'held');
    const { stdout } = await run(
      process.execPath,
      ['--conditions=@ordo/source', '--import', slow, '--import', TSX_ESM, child],
      { cwd: path.dirname(child), env: { ...process.env, ORDO_TEST_ZOD_HELD: held }, timeout: 60_000 },
    );
    // cjsZod: the race did happen, and the parse fell back to zod's CommonJS build.
    expect(JSON.parse(stdout.trim().split('\n').at(-1) as string)).toEqual({
      parsed: { tasks: 1 },
      cjsZod: true,
      governanceLoaded: true,
    });
  }, 90_000);
});
