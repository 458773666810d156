#!/usr/bin/env node
import { main } from './main.js';

// The `ordo` executable: wires the process to `main` and turns SIGINT/SIGTERM into an abort, so a run is
// cancelled (exit 130) and `ordo serve` closes cleanly. A second signal exits at once.
const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(signal);
  });
}

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  isTTY: process.stdout.isTTY === true,
  columns: process.stdout.columns || undefined, // 0 on a pty without a size
  signal: controller.signal,
});
