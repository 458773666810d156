// `pnpm bench`: every launcher benchmark against its anchor, in one run. Prints the ratios and writes
// bench/results/*.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { benchState } from './state.js';

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.versions.node}`;
const results = await benchState();
for (const r of results) {
  console.log(
    `${r.name}: ordo ${r.ordo.toFixed(1)} ${r.unit}, write-file-atomic ${r.anchor.toFixed(1)} ${r.unit}, ` +
      `ratio ${r.ratio.toFixed(2)}× (${r.notes})`,
  );
}
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('./results/state.json', import.meta.url),
  `${JSON.stringify({ date: new Date().toISOString(), machine, anchor: 'write-file-atomic 7', results }, null, 2)}\n`,
);

// The monitoring benchmark needs a real engine; it writes bench/results/monitoring.json.
if (process.env.DOCKER_HOST) {
  await import('./monitoring.js');
} else {
  console.log(
    'monitoring benchmark skipped: start an engine (scripts/docker-engine.sh start) and export the DOCKER_HOST it prints',
  );
}
