/**
 * What `await import('@ordo/runtime')` costs a host: in fresh processes of plain `node` (no tsx, no source
 * condition) against the built `dist/`, the time of the import itself (`performance.now()` around it) and
 * the process RSS right after it, median of 5 runs each; the anchor, measured in the same run the same way,
 * is a fresh process importing an empty ES module (node's own start and module loader). Also timed, for
 * the README: what the first `parsePlanText` adds (it loads zod and yaml).
 *
 * Targets (issue 20): ≤ 60 ms for the import and ≤ 55 MB of RSS after it.
 * Writes bench/results/import-cost.json with `uptime`'s load average before and after each figure.
 * Run with `pnpm --filter @ordo/runtime bench:import` after `pnpm build`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROUNDS = 5;
const TARGET_MS = 60;
const TARGET_RSS_MB = 55;
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const built = path.join(packageDir, 'dist', 'index.js');

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** `uptime`'s output and its 1-minute load average. */
function uptime(): { text: string; load1: number } {
  const text = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const load1 = Number(/load average:\s*([\d.]+)/.exec(text)?.[1] ?? Number.NaN);
  return { text, load1 };
}

interface Sample {
  ms: number;
  rssMb: number;
}

/** One fresh `node` that times `await import(specifier)` (and, with `parse`, a first plan parse after it). */
async function sample(specifier: string, parse = false): Promise<Sample & { parseMs?: number }> {
  const script = `
    const t0 = performance.now();
    const m = await import(${JSON.stringify(specifier)});
    const ms = performance.now() - t0;
    const rssMb = process.memoryUsage().rss / 2 ** 20;
    let parseMs;
    if (${parse}) {
      const t1 = performance.now();
      m.parsePlanText('feature: f\\ntasks:\\n  - { id: a, files: [a.txt], run: { shell: "true" } }\\n');
      parseMs = performance.now() - t1;
    }
    process.stdout.write(JSON.stringify({ ms, rssMb, parseMs }));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: packageDir,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(stdout) as Sample & { parseMs?: number };
}

/** `ROUNDS` fresh processes, one after another, with the load before and after. */
async function measure(specifier: string, parse = false) {
  const before = uptime();
  const samples = [];
  for (let i = 0; i < ROUNDS; i++) samples.push(await sample(specifier, parse));
  const after = uptime();
  return {
    ms: round(median(samples.map((s) => s.ms))),
    rssMb: round(median(samples.map((s) => s.rssMb))),
    ...(parse ? { firstParseMs: round(median(samples.map((s) => s.parseMs ?? Number.NaN))) } : {}),
    runs: samples.map((s) => ({ ms: round(s.ms), rssMb: round(s.rssMb) })),
    load: { before: before.text, after: after.text, load1Before: before.load1, load1After: after.load1 },
  };
}

if (!existsSync(built)) {
  process.stderr.write(
    `No build at ${built}: run \`pnpm build\` first (the bench measures dist/, as a host sees it).\n`,
  );
  process.exit(1);
}

const scratch = mkdtempSync(path.join(tmpdir(), 'ordo-import-bench-'));
try {
  const empty = path.join(scratch, 'empty.mjs');
  writeFileSync(empty, 'export {};\n');
  const anchor = await measure(pathToFileURL(empty).href);
  const runtime = await measure('@ordo/runtime', true);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus().length}× ${cpus()[0]?.model ?? 'unknown'}`,
    totalMemGb: round(totalmem() / 2 ** 30),
    rounds: ROUNDS,
    targets: { importMs: TARGET_MS, rssMb: TARGET_RSS_MB },
    anchor,
    runtime,
    importMsOverAnchor: round(runtime.ms - anchor.ms),
    rssMbOverAnchor: round(runtime.rssMb - anchor.rssMb),
    rssRatioToAnchor: round(runtime.rssMb / anchor.rssMb, 3),
    met: { importMs: runtime.ms <= TARGET_MS, rssMb: runtime.rssMb <= TARGET_RSS_MB },
  };
  mkdirSync(path.join(packageDir, 'bench', 'results'), { recursive: true });
  writeFileSync(
    path.join(packageDir, 'bench', 'results', 'import-cost.json'),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  const line = (
    name: string,
    m: { ms: number; rssMb: number; load: { load1Before: number; load1After: number } },
  ) =>
    `${name.padEnd(28)} ${String(m.ms).padStart(7)} ms ${String(m.rssMb).padStart(7)} MB   load ${m.load.load1Before} → ${m.load.load1After}`;
  process.stdout.write(
    [
      `import cost, median of ${ROUNDS} fresh processes (${result.node}, ${result.cpu})`,
      line('anchor: import(empty.mjs)', anchor),
      line("import('@ordo/runtime')", runtime),
      `over the anchor: +${result.importMsOverAnchor} ms, +${result.rssMbOverAnchor} MB (RSS ratio ${result.rssRatioToAnchor}); first parsePlanText: ${runtime.firstParseMs} ms`,
      `targets: ≤ ${TARGET_MS} ms ${result.met.importMs ? 'met' : 'NOT met'}, ≤ ${TARGET_RSS_MB} MB ${result.met.rssMb ? 'met' : 'NOT met'}`,
      '',
    ].join('\n'),
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
