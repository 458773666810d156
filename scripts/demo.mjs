// `pnpm demo` (after `pnpm build`): runs the quickstart example, a 9-task feature plan on subprocess workers.
import { spawnSync } from 'node:child_process';

const result = spawnSync('pnpm', ['--filter', './examples/quickstart', 'start'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
