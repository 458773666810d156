#!/usr/bin/env node
// Runs nx with plain output when it goes to a file or a pipe. Nx hands its tasks FORCE_COLOR=true unless
// told otherwise, so vitest and tsc wrote ANSI codes into CI logs; NO_COLOR (set by the user, or because
// stdout is not a terminal) turns that off. Nx itself maps FORCE_COLOR=0 to NO_COLOR.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const env = { ...process.env };
const plain = (env.NO_COLOR ?? '') !== '' || env.FORCE_COLOR === '0' || !process.stdout.isTTY;
if (plain) {
  env.NO_COLOR = '1';
  env.FORCE_COLOR = '0';
}
const nxBin = createRequire(import.meta.url).resolve('nx/bin/nx.js');
const child = spawn(process.execPath, [nxBin, ...process.argv.slice(2)], { stdio: 'inherit', env });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
